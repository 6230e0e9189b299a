"""ASR hallucination signs: a transcript that loops ("thank you thank you thank you") or runs far past the query.

Whisper-style decoders hallucinate on silence, noise and cut-off audio by repeating a phrase or adding text that
was never spoken. A WER gate catches most of it, but a looser gate (or a per-turn average) can let it through, and
the sign is worth a score of its own. `repetition(words, n)` and `length_ratio(...)` are plain functions; the
`hallucination` step reads `meta["speech"]` (per spoken turn: `text`, `spoken_text`, `transcript`), writes the
worst turn's `transcript_repetition` and `transcript_length_ratio`, and drops on configurable thresholds.

Repetition is measured as excess over the query: the share of the transcript's word n-grams that repeat an
earlier one, minus the same share in the spoken text, so a query that itself repeats a phrase is not blamed.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep
from filters.text_stats import words


def repetition(tokens: list[str], n: int = 3) -> float:
    """Share of the n-grams of `tokens` that repeat an earlier n-gram (0 = none, towards 1 = one phrase looping)."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def length_ratio(query_words: int, transcript_words: int) -> float:
    """Transcript words per query word (an empty query counts as one word, so the ratio stays finite)."""
    return transcript_words / max(query_words, 1)


class HallucinationConfig(StepConfig):
    ngram: int = Field(3, ge=1, description="n-gram size for repetition")
    max_repetition: float = Field(
        0.3, ge=0, le=1, description="highest excess share of repeated n-grams: transcript_repetition"
    )
    max_length_ratio: float = Field(2.0, gt=0, description="highest transcript/query word ratio: transcript_too_long")
    min_extra_words: int = Field(
        3, ge=0, description="a transcript must also have this many more words than the query to be too long"
    )


class Hallucination(Filter[HallucinationConfig]):
    """Reads `speech`; writes `transcript_repetition` and `transcript_length_ratio` (worst spoken turn)."""

    name = "hallucination"
    reads = ("speech",)
    schema = {"transcript_repetition": "float64", "transcript_length_ratio": "float64"}

    def judge(self, sample: Sample) -> Verdict:
        cfg = self.config
        speech = sample.meta.get("speech")
        if not isinstance(speech, list) or not speech:
            return drop("transcript_missing", f"meta['speech'] is {_short(speech)}")
        turns = []
        for k, turn in enumerate(speech):
            query = turn.get("spoken_text") or turn.get("text") if isinstance(turn, dict) else None
            transcript = turn.get("transcript") if isinstance(turn, dict) else None
            if not isinstance(query, str) or not isinstance(transcript, str):
                return drop("transcript_missing", f"speech[{k}]: text {_short(query)}, transcript {_short(transcript)}")
            q, t = words(query), words(transcript)
            excess = max(0.0, repetition(t, cfg.ngram) - repetition(q, cfg.ngram))
            turns.append((k, round(excess, 4), round(length_ratio(len(q), len(t)), 4), len(t) - len(q)))
        scores = {
            "transcript_repetition": max(r for _, r, _, _ in turns),
            "transcript_length_ratio": max(ratio for _, _, ratio, _ in turns),
        }
        for k, rep, ratio, extra in turns:
            if rep > cfg.max_repetition:
                return drop("transcript_repetition", f"speech[{k}]: repetition {rep} > {cfg.max_repetition}", **scores)
            if ratio > cfg.max_length_ratio and extra >= cfg.min_extra_words:
                detail = f"speech[{k}]: {ratio}x the query's words (+{extra}) > {cfg.max_length_ratio}"
                return drop("transcript_too_long", detail, **scores)
        return keep(**scores)


def _short(value: Any) -> str:
    return f"{value!r:.60}"
