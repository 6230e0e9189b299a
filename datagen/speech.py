"""The shared "speak, verify, score" path of every speech generator.

A generator plans `Utterance`s (text + a seeded voice draw), `Speaker.run` synthesizes them batched per voice
backend, adds the voice's noise, checks the duration, transcribes everything still alive in one ASR batch, and
`Speaker.provenance` turns each into the per-turn `speech` dict (with the noise's SNR, None when clean).
Failures go into the generator's `Ledger` against the utterance's owner (a batch index, or any key such as
`(passage, pair)`) with stable reasons — `empty_text`, `not_speakable`, `tts_failed`, `audio_too_long`,
`asr_failed` — so each generator only decides what a failure means for its records.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import Field

from datagen.backends.base import Voice, model_name
from datagen.ledger import Ledger
from datagen.records import Audio, Rejected, Sample
from datagen.speakable import speakable
from datagen.steps import Step, StepConfig
from datagen.voices import VoiceChoice, apply_noise, draw_voice, engine_options
from filters.text_stats import english_share, foreign_share, words
from filters.wer import wer

# Generous upper bound on characters per second of speech: longer texts cannot fit and are not synthesized.
MAX_CHARS_PER_SECOND = 40
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_MIN_WORDS_FOR_LANGUAGE = 8
_MIN_FOREIGN_SHARE = 0.15


class SpeechConfig(StepConfig):
    """The options every speech generator shares (a voice pool, a verifier, an audio limit)."""

    voices: list[VoiceChoice] = Field(min_length=1, description="the voice pool; each names a synthesizer backend")
    asr: str = Field(description="name of the transcriber backend that verifies the speech")
    max_audio_seconds: float = Field(30.0, gt=0, description="longer audio is dropped (audio_too_long)")


def speech_backend_refs(config: Any) -> list[tuple[str, str, str]]:
    refs = [(f"voices.{i}.tts", v.tts, "synthesize") for i, v in enumerate(config.voices)]
    return [*refs, ("asr", config.asr, "transcribe")]


S = TypeVar("S", bound=SpeechConfig)


class SpeechStep(Step[S]):
    """Base of the speech generators: the voice pool and verifier backends, a warm-up, and the voices heard.

    A subclass adds its own backends by extending `backend_refs`; `voices` in stats.json counts the
    `engine:voice` of every utterance in the kept records' `speech` meta.
    """

    @classmethod
    def backend_refs(cls, config: Any) -> list[tuple[str, str, str]]:
        return speech_backend_refs(config)

    def setup(self, backends: Any) -> None:
        super().setup(backends)
        warm_up()

    def stats_for_shard(self, kept: Sequence[Sample], rejected: Sequence[Rejected]) -> dict[str, Any]:
        heard = Counter(f"{sp['tts']}:{sp['voice']}" for s in kept for sp in s.meta.get("speech") or [] if sp)
        return {**super().stats_for_shard(kept, rejected), "voices": dict(heard)}

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        return {"voices": dict(Counter(totals.get("voices", {})).most_common())}


def speech_schema(**extra: Any) -> list[dict[str, Any]]:
    """The schema of a `speech` list (see `datagen.steps.to_feature`); `extra` adds fields (e.g. a passage chunk)."""
    fields = {
        "turn": "int32",
        "text": "string",
        "spoken_text": "string",
        "transcript": "string",
        "wer": "float64",
        "duration": "float64",
        "tts": "string",
        "voice": "string",
        "speed": "float64",
        "voice_seed": "int64",
        "asr": "string",
        "snr_db": "float64",
    }
    return [{**fields, **extra}]


def voice_problem(spoken: str) -> tuple[str, str] | None:
    """Why an English voice cannot say `spoken`: nothing to say, no (mostly) Latin letters, or another language.

    Emoji-only text has no letters at all; Chinese or Russian text has letters an English voice reads as silence
    or noise; French or German read by an English voice is mispronounced speech that a lenient ASR may still
    "verify". Numbers-only text is sayable ("42"). The language check needs a few words and looks for the other
    languages' function words (an English list of nouns has no English function word and is still English).
    """
    if not spoken:
        return ("empty_text", "nothing to say")
    letters = _LETTER.findall(spoken)
    if not letters:
        if any(ch.isdigit() for ch in spoken):
            return None
        return ("not_speakable", f"no letters to read in {spoken[:40]!r}")
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    if latin / len(letters) < 0.8:
        return ("not_speakable", f"{1 - latin / len(letters):.0%} of the letters are not Latin")
    tokens = words(spoken)
    foreign, english = foreign_share(tokens), english_share(tokens)
    if len(tokens) >= _MIN_WORDS_FOR_LANGUAGE and foreign >= _MIN_FOREIGN_SHARE and foreign > english:
        return ("not_speakable", f"reads as another language: {foreign:.0%} foreign vs {english:.0%} English words")
    return None


@dataclass(slots=True)
class Utterance:
    """One text to speak. `owner` is the ledger key it belongs to; `turn` keys the voice draw and provenance."""

    owner: Hashable
    turn: int
    text: str
    spoken: str
    voice: Voice
    label: str = ""  # names the utterance in reject details ("turn 2", "chunk 3")
    extra: dict[str, Any] | None = None  # more provenance fields (speech_schema's `extra`)
    audio: Audio | None = None
    transcript: str | None = None


class Speaker:
    """A step's view of its voice pool and verifier; built per batch, writing failures into the batch's `ledger`."""

    def __init__(self, config: SpeechConfig, backends: Mapping[str, Any], seed: int, ledger: Ledger) -> None:
        self.config = config
        self.backends = backends
        self.seed = seed
        self.ledger = ledger
        self.engine_of = {v.tts: backends[v.tts].engine for v in config.voices}
        self.asr = backends[config.asr]
        self._asr_name: str | None = None

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
        `check_language` also refuses text an English voice cannot read (`not_speakable`).
        """
        label = label or f"turn {turn}"
        spoken = speakable(text)
        problem = voice_problem(spoken) if check_language else (None if spoken else ("empty_text", ""))
        if problem:
            self.ledger.fail(
                owner, problem[0], f"{label}: {problem[1]}" if problem[1] else f"{label} has nothing to say"
            )
            return None
        if len(spoken) > self.config.max_audio_seconds * MAX_CHARS_PER_SECOND:
            self.ledger.fail(owner, "audio_too_long", f"{label}: {len(spoken)} characters")
            return None
        key = turn if voice_key is None else voice_key
        voice = draw_voice(self.config.voices, self.seed, sample_id, key, self.engine_of)
        if not voice.name:  # record the voice actually heard, not "default"
            names = self.backends[voice.backend].voices()
            voice = replace(voice, name=names[0] if names else "")
        return Utterance(owner, turn, text, spoken, voice, label, extra)

    def run(self, utterances: Sequence[Utterance]) -> None:
        """Synthesize (per backend), add noise, check durations, then transcribe what is left in one batch.

        Utterances of an owner that already failed are not transcribed (no ASR time for a lost cause).
        """
        utterances = [u for u in utterances if u.owner not in self.ledger]  # no TTS time for a lost cause either
        by_backend: dict[str, list[Utterance]] = defaultdict(list)
        for u in utterances:
            by_backend[u.voice.backend].append(u)
        for backend, group in by_backend.items():
            audios = self.backends[backend].synthesize(
                [u.spoken for u in group], [engine_options(u.voice) for u in group]
            )
            for u, audio in zip(group, audios, strict=True):
                u.audio = _noisy(audio, u.voice)
        for u in utterances:
            if u.owner in self.ledger:
                continue
            if u.audio is None or len(u.audio.array) == 0:
                self.ledger.fail(u.owner, "tts_failed", f"{u.label}, voice {u.voice.name}")
            elif u.audio.duration > self.config.max_audio_seconds:
                self.ledger.fail(u.owner, "audio_too_long", f"{u.label}: {u.audio.duration:.1f} s")
        live = [u for u in utterances if u.owner not in self.ledger]
        transcripts = self.asr.transcribe([u.audio for u in live]) if live else []
        for u, transcript in zip(live, transcripts, strict=True):
            u.transcript = transcript
            if transcript is None:
                self.ledger.fail(u.owner, "asr_failed", u.label)

    def asr_name(self) -> str:
        if self._asr_name is None:
            self._asr_name = model_name(self.asr)
        return self._asr_name

    def provenance(self, u: Utterance) -> dict[str, Any]:
        assert u.audio is not None and u.transcript is not None, "provenance of an utterance that failed"
        return {
            "turn": u.turn,
            "text": u.text,
            "spoken_text": u.spoken,
            "transcript": u.transcript,
            "wer": wer(u.text, u.transcript),
            "duration": round(u.audio.duration, 3),
            "tts": u.voice.engine,
            "voice": u.voice.name,
            "speed": u.voice.speed,
            "voice_seed": u.voice.seed,
            "asr": self.asr_name(),
            "snr_db": u.voice.options.get("snr_db"),
            **(u.extra or {}),
        }


def warm_up() -> None:
    wer("warm up", "warm up")  # the normalizer's first call imports its number tables: pay it at setup


def _noisy(audio: Audio | None, voice: Voice) -> Audio | None:
    """The voice's background noise (`Voice.options["snr_db"]`, drawn with the voice); clean when it has none."""
    if audio is None or len(audio.array) == 0:
        return audio
    return apply_noise(audio, voice)
