"""The shared "speak, verify, score" path of every speech generator.

A generator plans `Utterance`s (text + a seeded voice draw), `Speaker.run` synthesizes them batched per voice
backend, adds the voice's noise, checks the duration, transcribes what is still alive in ASR batches of
`asr_batch` (the next batch is synthesized meanwhile: `datagen.synthesis`; with `asr_draft`, a verifier's
word-perfect drafts are kept and only the rest transcribed in full), scores each take (WER of the transcript
against the spoken form; DNSMOS with `mos: true`), and `Speaker.provenance` turns each into the per-turn `speech`
dict (with the noise's SNR, None when clean).

The speakable form (`datagen.speakable`) is what is spoken and what the transcript is scored against; the text turn
keeps the original. With `attempts: N`, a take that fails the retry thresholds (`retry_max_wer`, `retry_min_mos`),
the length limit, the synthesizer or the verifier is spoken again by the next voice of the pool, up to N takes;
the first passing take is kept (else the best one), and every take is in the provenance (`attempts`). Those
thresholds only decide whether to try again: the gate steps (`max_wer`, `min_mos`) still decide what is kept.

Failures go into the generator's `Ledger` against the utterance's owner (a batch index, or any key such as
`(passage, pair)`) with stable reasons — `empty_text`, `not_speakable`, `tts_failed`, `audio_too_long`,
`asr_failed` — so each generator only decides what a failure means for its records.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from contextlib import closing
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import Field, model_validator

from datagen.backends.base import BackendError, Drafter, Synthesizer, Transcriber, Voice, lacks, model_name
from datagen.ledger import Ledger
from datagen.records import Audio, Rejected, Sample
from datagen.speakable import speakable, speaking_problem
from datagen.speech_schema import speech_schema as speech_schema
from datagen.steps import BackendRef, Step, StepConfig
from datagen.synthesis import SynthesisPool, heard, synthesized, verify_chunks
from datagen.takes import Take, Utterance, keep_best
from datagen.voices import VoiceChoice, apply_noise, draw_voice, engine_options
from filters.mos import DnsMos, MosScores
from filters.mos import unavailable_reason as mos_unavailable
from filters.wer import wer

# Generous upper bound on characters per second of speech: longer texts cannot fit and are not synthesized.
MAX_CHARS_PER_SECOND = 40


_SPEED: Any = {"json_schema_extra": {"speed_only": True}}  # same output whatever the value: not in the run's identity


class SpeechConfig(StepConfig):
    """The options every speech generator shares (a voice pool, a verifier, an audio limit, quality and retries)."""

    voices: list[VoiceChoice] = Field(min_length=1, description="the voice pool; each names a synthesizer backend")
    asr: str = Field(description="name of the transcriber backend that verifies the speech")
    max_audio_seconds: float = Field(30.0, gt=0, description="longer audio is dropped (audio_too_long)")
    mos: bool = Field(
        False,
        description="score every take with DNSMOS (needs speechmos); on by itself with retry_min_mos, and a min_mos "
        "gate scores unrated samples itself",
    )
    attempts: int = Field(1, ge=1, le=10, description="takes per turn: a failed take is spoken by the next voice")
    retry_max_wer: float | None = Field(None, ge=0, description="a take above this WER is spoken again")
    retry_min_mos: float | None = Field(None, ge=1, le=5, description="a take below this DNSMOS OVRL is spoken again")
    asr_batch: int = Field(8, ge=1, description="takes per ASR call: a round is spoken and verified in such chunks")
    asr_draft: bool = Field(
        True, description="verifiers that can draft (faster_whisper): keep word-perfect drafts, transcribe the rest"
    )
    pipeline: bool = Field(
        True, description="synthesize the next chunks and batches on a thread while one is verified", **_SPEED
    )
    tts_workers: int = Field(0, ge=0, le=256, description="N > 0: synthesize in N processes (0: in-process)", **_SPEED)

    @model_validator(mode="before")
    @classmethod
    def _mos_when_retries_need_it(cls, data: Any) -> Any:
        """`retry_min_mos` without `mos` means scoring: a retry threshold on an unscored take could never pass."""
        if isinstance(data, dict) and "mos" not in data and data.get("retry_min_mos") is not None:
            return {**data, "mos": True}
        return data

    @model_validator(mode="after")
    def _mos_for_retries(self) -> SpeechConfig:
        if self.retry_min_mos is not None and not self.mos:
            raise ValueError("retry_min_mos needs mos: true (the takes must be scored)")
        return self

    @model_validator(mode="after")
    def _workers_need_pipeline(self) -> SpeechConfig:
        if self.tts_workers and not self.pipeline:
            raise ValueError(
                f"tts_workers: {self.tts_workers} synthesizes alongside verification: it needs pipeline: true"
            )
        return self


S = TypeVar("S", bound=SpeechConfig)


class SpeechStep(Step[S]):
    """Base of the speech generators: the voice pool and verifier backends, a warm-up, and the voices heard.

    A subclass adds its own backends by extending `backend_refs`; `voices` in stats.json counts the
    `engine:voice` of every utterance in the kept records' `speech` meta, and `speech_quality` the records that
    needed more than one take (`retried`), those of them kept (`rescued`), the extra takes spoken
    (`resynthesized`), the kept records' turns whose transcript is a draft (`drafted`) and the DNSMOS time
    (`mos_seconds`). Synthesis runs in `synthesis` (`datagen.synthesis`: a
    thread, or `tts_workers` processes; None with `pipeline: false`), started at setup and closed at teardown.
    """

    synthesis: SynthesisPool | None = None

    @classmethod
    def backend_refs(cls, config: S) -> list[BackendRef]:
        refs = [BackendRef(f"voices.{i}.tts", v.tts, Synthesizer) for i, v in enumerate(config.voices)]
        return [*refs, BackendRef("asr", config.asr, Transcriber)]

    def setup(self, backends: Any) -> None:
        super().setup(backends)
        if self.config.mos:
            if reason := mos_unavailable():
                raise BackendError(
                    f"step {self.name}: mos: true scores speech with DNSMOS, but {reason} (or mos: false)"
                )
            DnsMos.load()
        warm_up()
        self._close_synthesis()  # a second setup (a retried shard) does not leave the first pool running
        if self.config.pipeline:
            mine = {v.tts: self.backends[v.tts] for v in self.config.voices}
            self.synthesis = SynthesisPool.start(mine, self.config.tts_workers, label=f"step {self.name}")
            self.backends = self.synthesis.wrap(self.backends)

    def teardown(self) -> None:
        self._close_synthesis()
        super().teardown()

    def prefetch(self, batch: Sequence[Sample]) -> None:
        """Synthesize `batch`'s first takes on the pool while the current batch is verified (`pipeline: true`)."""
        if self.synthesis is None:
            return
        speaker = Speaker(self.config, self.backends, self.seed, Ledger())  # `process` records the failures
        takes = [(u.voice.backend, u.spoken, engine_options(u.voice)) for u in self.first_utterances(batch, speaker)]
        self.synthesis.speak_ahead(takes, self.config.asr_batch)

    def first_utterances(self, batch: Sequence[Sample], speaker: Speaker) -> list[Utterance]:
        """What `process` speaks first for `batch`, planned as `process` plans it, for `prefetch`; default none
        (a step whose text comes from its own model calls)."""
        return []

    def _close_synthesis(self) -> None:
        if self.synthesis is not None:
            self.synthesis.close()
            self.synthesis = None

    def stats_for_shard(self, kept: Sequence[Sample], rejected: Sequence[Rejected]) -> dict[str, Any]:
        heard = Counter(f"{sp['tts']}:{sp['voice']}" for s in kept for sp in s.meta.get("speech") or [] if sp)
        rescued = sum(_retried(s) for s in kept)  # from the records alone: `datagen filter` reports it too
        retried = rescued + sum(_retried(r.sample) for r in rejected if r.sample is not None)
        drafted = sum(bool(sp.get("drafted")) for s in kept for sp in s.meta.get("speech") or [] if sp)
        return {
            **super().stats_for_shard(kept, rejected),
            "voices": dict(heard),
            "retried": retried,
            "rescued": rescued,
            "drafted": drafted,
        }

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        entries: dict[str, Any] = {"voices": dict(Counter(totals.get("voices", {})).most_common())}
        quality = {k: totals[k] for k in ("retried", "rescued", "resynthesized", "drafted") if k in totals}
        if "mos_seconds" in totals:
            quality["mos_seconds"] = round(totals["mos_seconds"], 3)
        if quality:
            entries["speech_quality"] = quality
        return entries


def _retried(sample: Sample) -> bool:
    return any(len(sp.get("attempts") or ()) > 1 for sp in sample.meta.get("speech") or [] if sp)


def speech_summary(speech: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A sample's `wer` (its worst turn) and `mos` (its lowest DNSMOS OVRL; None unless every turn was rated)."""
    scores = [sp.get("mos") for sp in speech]
    rated = all(isinstance(m, int | float) for m in scores) and scores
    return {"wer": max(sp["wer"] for sp in speech), "mos": min(scores) if rated else None}


class Speaker:
    """A step's view of its voice pool and verifier; built per batch, writing failures into the batch's `ledger`.

    `tally` (the step's) receives `resynthesized` (extra takes spoken) and `mos_seconds` (DNSMOS time).
    """

    def __init__(
        self,
        config: SpeechConfig,
        backends: Mapping[str, Any],
        seed: int,
        ledger: Ledger,
        tally: Counter[str] | None = None,
    ) -> None:
        self.config = config
        self.backends = backends
        self.seed = seed
        self.ledger = ledger
        self.tally: Counter[str] = tally if tally is not None else Counter()
        self.engine_of = {v.tts: backends[v.tts].engine for v in config.voices}
        self.asr = backends[config.asr]
        self._asr_name: str | None = None
        self._mos: dict[int, MosScores | None] = {}  # DNSMOS of takes heard ahead (by id), until scored
        self._mos_seconds = 0.0  # written only while hearing (one thread at a time)

    def plan(
        self,
        owner: Hashable,
        sample_id: str,
        turn: int,
        text: str,
        *,
        voice_key: int | None = None,
        check_language: bool = False,
        label: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Utterance | None:
        """An utterance for `text`, or None after recording why it cannot be spoken.

        `voice_key` (default: `turn`) picks the voice draw: several utterances sharing a key share a speaker.
        Text no voice reads sensibly (a code block, a table, a long formula, only emoji) is `not_speakable`;
        `check_language` also refuses text an English voice cannot read (`not_speakable`).
        """
        label = label or f"turn {turn}"
        problem = speaking_problem(text, check_language=check_language)
        if problem:
            self.ledger.fail(
                owner, problem[0], f"{label}: {problem[1]}" if problem[1] else f"{label} has nothing to say"
            )
            return None
        spoken = speakable(text)
        if len(spoken) > self.config.max_audio_seconds * MAX_CHARS_PER_SECOND:
            self.ledger.fail(owner, "audio_too_long", f"{label}: {len(spoken)} characters")
            return None
        key = turn if voice_key is None else voice_key
        voice = self._voice(sample_id, key, 0)
        return Utterance(owner, turn, text, spoken, voice, label, extra, sample_id=sample_id, voice_key=key)

    def _voice(self, sample_id: str, key: int, attempt: int) -> Voice:
        voice = draw_voice(self.config.voices, self.seed, sample_id, key, self.engine_of, attempt=attempt)
        if not voice.name:  # record the voice actually heard, not "default"
            names = self.backends[voice.backend].voices()
            voice = replace(voice, name=names[0] if names else "")
        return voice

    def run(self, utterances: Sequence[Utterance]) -> None:
        """Speak, verify and score every utterance, re-speaking failed takes with the next voice (`attempts`).

        Utterances sharing an owner and a voice key (a passage's chunks) are one speaker: they are taken again
        together and keep the takes of the same round. Owners that already failed get no TTS or ASR time.
        """
        groups: dict[tuple[Hashable, int], list[Utterance]] = defaultdict(list)
        for u in utterances:
            if u.owner not in self.ledger:
                groups[(u.owner, u.voice_key)].append(u)
        todo = list(groups.values())
        for attempt in range(self.config.attempts):
            todo = [g for g in todo if g[0].owner not in self.ledger]
            if not todo:
                break
            for group in todo:
                voice = self._voice(group[0].sample_id, group[0].voice_key, attempt) if attempt else None
                for u in group:
                    u.takes.append(Take(voice or u.voice))
            if attempt:
                self.tally["resynthesized"] += sum(len(g) for g in todo)
            self._take(todo, last=attempt == self.config.attempts - 1)
            todo = [g for g in todo if any(u.takes[-1].problem for u in g)]
        for group in groups.values():
            keep_best(group)

    def _take(self, groups: list[list[Utterance]], *, last: bool) -> None:
        """One round, in chunks of about `asr_batch` takes (whole owners, in order: `datagen.synthesis`): each is
        synthesized (per backend), heard (noise, length, DNSMOS) and verified. With `pipeline` the next chunks are
        synthesized and heard meanwhile; the chunks, hence the ASR batches and the output, are the same either way."""
        chunks = verify_chunks(groups, self.config.asr_batch)
        ahead = self.config.pipeline and self.config.mos
        with (
            closing(synthesized(chunks, self.backends)) as spoken,
            closing(heard(chunks, spoken, self._hear, ahead=ahead)) as ready,  # closed first: its thread is done
        ):
            for chunk in ready:
                self._verify(chunk, last=last)
        self.tally["mos_seconds"] += self._mos_seconds
        self._mos_seconds = 0.0
        self._mos.clear()

    def _hear(self, chunk: list[list[Utterance]], audios: list[Audio | None]) -> None:
        """Give each take its noisy audio and length check, and DNSMOS when it passed (touches only this chunk)."""
        for u, audio in zip((u for g in chunk for u in g), audios, strict=True):
            t = u.takes[-1]
            t.audio = _noisy(audio, t.voice)
            if t.audio is None or len(t.audio.array) == 0:
                t.problem, t.detail = "tts_failed", f"{u.label}, voice {t.voice.name}"
            elif t.audio.duration > self.config.max_audio_seconds:
                t.problem, t.detail = "audio_too_long", f"{u.label}: {t.audio.duration:.1f} s"
            elif self.config.mos:
                started = time.perf_counter()
                self._mos[id(t)] = score_mos(t.audio)
                self._mos_seconds += time.perf_counter() - started

    def _verify(self, groups: list[list[Utterance]], *, last: bool) -> None:
        """Give up on failed takes, transcribe what is left in one ASR call, score it."""
        for group in groups:
            for u in group:
                if u.takes[-1].problem and last:
                    self._give_up(group, u)
        whole = [g for g in groups if not any(u.takes[-1].problem for u in g)]  # one bad chunk: no ASR for the rest
        live = [u for g in whole for u in g if u.owner not in self.ledger]
        transcripts, drafted, packed = self._transcribe(live)
        group_of = {id(u): g for g in groups for u in g}
        for u, transcript, was_drafted, was_packed in zip(live, transcripts, drafted, packed, strict=True):
            t = u.takes[-1]
            t.transcript, t.drafted, t.packed = transcript, was_drafted, was_packed
            if transcript is None:
                t.problem, t.detail = "asr_failed", u.label
                if last:
                    self._give_up(group_of[id(u)], u)
            else:
                self._score(u, t)

    def _transcribe(self, live: list[Utterance]) -> tuple[list[str | None], list[bool], list[bool]]:
        """Transcripts of the live takes, and per take whether it is a kept draft, and whether it was packed.

        With `asr_draft` and a verifier that drafts, a draft matching the spoken form word for word is kept;
        every other take is transcribed in full, so a decision differs from full transcription only where the
        draft heard every word and the full transcription did not."""
        audios = [u.takes[-1].audio for u in live]
        transcripts: list[str | None] = [None] * len(live)
        drafted = [False] * len(live)
        if live and self.config.asr_draft and not lacks(self.asr, Drafter):
            for i, (u, draft) in enumerate(zip(live, self.asr.draft(audios), strict=True)):
                if trusted_draft(u.spoken, draft):
                    transcripts[i], drafted[i] = draft, True
        rest = [i for i in range(len(live)) if not drafted[i]]
        full = self.asr.transcribe([audios[i] for i in rest]) if rest else []
        packed_rest = getattr(self.asr, "last_packed", None)  # engines that pack short clips into one window say so
        if not isinstance(packed_rest, list | tuple) or len(packed_rest) != len(rest):
            packed_rest = [False] * len(rest)
        packed = [False] * len(live)
        for i, transcript, was_packed in zip(rest, full, packed_rest, strict=True):
            transcripts[i], packed[i] = transcript, bool(was_packed)
        return transcripts, drafted, packed

    def _give_up(self, group: list[Utterance], u: Utterance) -> None:
        """The last take of `u` failed: its owner fails, unless an earlier round of its group is usable."""
        rounds = range(len(u.takes) - 1)
        if any(all(x.takes[r].complete for x in group) for r in rounds):
            return
        t = u.takes[-1]
        tries = f" ({len(u.takes)} takes)" if len(u.takes) > 1 else ""
        self.ledger.fail(u.owner, t.problem, t.detail + tries)

    def _score(self, u: Utterance, t: Take) -> None:
        """WER against the spoken form (what the voice was given), DNSMOS, and whether to try again."""
        cfg = self.config
        assert t.transcript is not None and t.audio is not None
        t.wer = wer(u.spoken, t.transcript)
        if cfg.mos:
            t.mos = self._mos.pop(id(t))  # scored when the take was heard
        if cfg.retry_max_wer is not None and t.wer > cfg.retry_max_wer:
            t.problem, t.detail = "wer_above_retry", f"{u.label}: WER {t.wer:.3f} > {cfg.retry_max_wer}"
        elif cfg.retry_min_mos is not None and (t.mos is None or t.mos.ovrl < cfg.retry_min_mos):
            heard = f"{t.mos.ovrl:.2f}" if t.mos else "unrated"
            t.problem, t.detail = "mos_below_retry", f"{u.label}: MOS {heard} < {cfg.retry_min_mos}"

    def asr_name(self) -> str:
        if self._asr_name is None:
            self._asr_name = model_name(self.asr)
        return self._asr_name

    def provenance(self, u: Utterance) -> dict[str, Any]:
        assert u.audio is not None and u.transcript is not None, "provenance of an utterance that failed"
        t = u.take
        mos = t.mos.as_dict() if t.mos else {}
        return {
            "turn": u.turn,
            "text": u.text,
            "spoken_text": u.spoken,
            "transcript": u.transcript,
            "wer": t.wer,
            "mos": mos.get("ovrl"),
            "mos_sig": mos.get("sig"),
            "mos_bak": mos.get("bak"),
            "mos_p808": mos.get("p808"),
            "duration": round(u.audio.duration, 3),
            "tts": u.voice.engine,
            "voice": u.voice.name,
            "speed": u.voice.speed,
            "voice_seed": u.voice.seed,
            "asr": self.asr_name(),
            "packed": t.packed,
            "drafted": t.drafted,
            "snr_db": u.voice.options.get("snr_db"),
            "attempts": [take.summary() for take in u.takes],
            **(u.extra or {}),
        }


def trusted_draft(spoken: str, draft: str | None) -> bool:
    """A draft is kept only word for word (normalized WER 0): anything else is transcribed in full."""
    return draft is not None and wer(spoken, draft) == 0


def score_mos(audio: Audio) -> MosScores | None:
    """DNSMOS of one clip (the audio a sample carries, noise included); tests replace it with a fake."""
    return DnsMos.score(audio.array, audio.sampling_rate)


def warm_up() -> None:
    wer("warm up", "warm up")  # the normalizer's first call imports its number tables: pay it at setup


def _noisy(audio: Audio | None, voice: Voice) -> Audio | None:
    """The voice's background noise (`Voice.options["snr_db"]`, drawn with the voice); clean when it has none."""
    if audio is None or len(audio.array) == 0:
        return audio
    return apply_noise(audio, voice)
