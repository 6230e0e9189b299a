"""The takes of an utterance: each synthesis of one text with one voice, and which take a record keeps.

`datagen.speech.Speaker` fills them; a take that failed a retry threshold is `complete` (it has a transcript and
scores, the gate steps may still keep it), one that failed synthesis, the length limit or the verifier is not.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from datagen.backends.base import Voice
from datagen.records import Audio
from filters.mos import MosScores

# Problems of a take that still has a transcript and scores (only the retry thresholds failed).
SOFT_PROBLEMS = ("", "wer_above_retry", "mos_below_retry")


@dataclass(slots=True)
class Take:
    """One synthesis of an utterance: its voice, audio, transcript and scores; `problem` says why it failed."""

    voice: Voice
    audio: Audio | None = None
    transcript: str | None = None
    wer: float | None = None
    mos: MosScores | None = None
    drafted: bool = False  # the transcript is the verifier's word-perfect draft (`Drafter`)
    packed: bool = False
    problem: str = ""  # a reason (tts_failed, audio_too_long, asr_failed, wer_above_retry, mos_below_retry)
    detail: str = ""

    @property
    def complete(self) -> bool:
        return self.transcript is not None and self.problem in SOFT_PROBLEMS

    def summary(self) -> dict[str, Any]:
        return {
            "tts": self.voice.engine,
            "voice": self.voice.name,
            "speed": self.voice.speed,
            "voice_seed": self.voice.seed,
            "snr_db": self.voice.options.get("snr_db"),
            "wer": self.wer,
            "mos": round(self.mos.ovrl, 4) if self.mos else None,
            "problem": self.problem or None,
        }


@dataclass(slots=True)
class Utterance:
    """One text to speak. `owner` is the ledger key it belongs to; `turn` keys the voice draw and provenance.

    `takes` holds every synthesis; after `Speaker.run`, `voice`, `audio` and `transcript` are the kept take's.
    """

    owner: Hashable
    turn: int
    text: str
    spoken: str
    voice: Voice
    label: str = ""  # names the utterance in reject details ("turn 2", "chunk 3")
    extra: dict[str, Any] | None = None  # more provenance fields (speech_schema's `extra`)
    audio: Audio | None = None
    transcript: str | None = None
    sample_id: str = ""
    voice_key: int = 0  # utterances of one owner sharing a key share a speaker, on every take
    takes: list[Take] = field(default_factory=list)
    kept: int = 0  # index of the kept take

    @property
    def take(self) -> Take:
        return self.takes[self.kept]


def keep_best(group: list[Utterance]) -> None:
    """Keep the group's first passing round, else its best one (complete, fewest failures, lowest WER, best MOS)."""
    if not group[0].takes:
        return

    def rank(r: int) -> tuple[Any, ...]:
        takes = [u.takes[r] for u in group]
        wers = [t.wer for t in takes if t.wer is not None]
        moses = [t.mos.ovrl for t in takes if t.mos is not None]
        failed = sum(bool(t.problem) for t in takes)
        return (not all(t.complete for t in takes), failed, max(wers, default=1e9), -min(moses, default=0.0), r)

    best = min(range(len(group[0].takes)), key=rank)
    for u in group:
        u.kept = best
        u.voice, u.audio, u.transcript = u.take.voice, u.take.audio, u.take.transcript
