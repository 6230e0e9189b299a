"""Word error rate between a written reference and an ASR hypothesis, normalized by default.

Used to judge TTS -> ASR round trips: the raw WER of "How many red circles are in the image?" against Whisper's
"how many red circles are in the image" is 0.25 only because of case and punctuation, so by default both sides go
through `filters.normalize.normalize_text` first. jiwer computes the alignment.

Empty inputs (after normalization, or after whitespace splitting when `normalize=False`) are defined here rather
than left to jiwer: both empty -> 0.0 (nothing to say, nothing said); empty reference with words in the hypothesis
-> 1.0 (all wrong, capped like a full deletion rather than growing with the number of inserted words).
"""

from __future__ import annotations

from typing import TypedDict

import jiwer

from filters.normalize import normalize_text

__all__ = ["WerDetails", "wer", "wer_details"]


class WerDetails(TypedDict):
    """Alignment counts behind a WER score: `wer == (substitutions + deletions + insertions) / reference_words`."""

    wer: float
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int
    hypothesis_words: int


def _words(text: str, normalize: bool) -> list[str]:
    return (normalize_text(text) if normalize else text).split()


def wer_details(reference: str, hypothesis: str, *, normalize: bool = True) -> WerDetails:
    """Score `hypothesis` against `reference` and return the edit counts, so filters can log why a sample failed."""
    ref, hyp = _words(reference, normalize), _words(hypothesis, normalize)
    if ref and hyp:
        out = jiwer.process_words(" ".join(ref), " ".join(hyp))
        score, edits = float(out.wer), (out.hits, out.substitutions, out.deletions, out.insertions)
    else:  # a side is empty: every word of the other is an edit, and the score is 0 or 1 (module docstring)
        score, edits = (1.0 if ref or hyp else 0.0), (0, 0, len(ref), len(hyp))
    hits, substitutions, deletions, insertions = edits
    return WerDetails(
        wer=score,
        hits=hits,
        substitutions=substitutions,
        deletions=deletions,
        insertions=insertions,
        reference_words=len(ref),
        hypothesis_words=len(hyp),
    )


def wer(reference: str, hypothesis: str, *, normalize: bool = True) -> float:
    """Word error rate of `hypothesis` against `reference`; 0.0 is a perfect transcript (see module docstring)."""
    return wer_details(reference, hypothesis, normalize=normalize)["wer"]
