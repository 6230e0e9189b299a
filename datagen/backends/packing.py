"""Packing short clips into one Whisper window, and giving each clip back its words.

Whisper pads every input to a 30-s window, so a 2-s clip costs the encoder 15x its length. Clips joined with
silence gaps share one window; the words Whisper returns (with timestamps) go back to the clip whose slice of
the window holds them. Anything that cannot be assigned with confidence is left to a one-by-one transcription:
a word that covers a whole gap (it may belong to two clips), a word heard in the silence or one Whisper itself
doubts (invented text: "... for the next one.", at probabilities near 0), a clip that received no word.
Pure: no model here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

WINDOW_SECONDS = 30.0  # Whisper's input window


@dataclass(slots=True, frozen=True)
class Window:
    """Clips sharing one transcription: `members` index the caller's list, `spans` their (start, end) seconds."""

    members: tuple[int, ...]
    spans: tuple[tuple[float, float], ...]
    gap: float

    @property
    def duration(self) -> float:
        return self.spans[-1][1] if self.spans else 0.0


@dataclass(slots=True, frozen=True)
class TimedWord:
    start: float
    end: float
    text: str  # Whisper's word with its leading space, so "".join(texts) is the transcript
    probability: float = 1.0


def plan_windows(
    durations: Sequence[float], *, budget: float = 29.0, gap: float = 0.8, max_clip: float = 10.0
) -> tuple[list[Window], list[int]]:
    """Group clips, in order, into windows of at most `budget` seconds with `gap` seconds of silence between clips.

    Returns the windows (each with two clips or more) and the indices of clips to transcribe alone: longer than
    `max_clip` (little padding to save, and a long clip crowds out the others), or left single in their window.
    The budget stays under 30 s so a window never spills into a second Whisper window.
    """
    windows: list[Window] = []
    alone: list[int] = []
    members: list[int] = []
    spans: list[tuple[float, float]] = []

    def close() -> None:
        if len(members) >= 2:
            windows.append(Window(tuple(members), tuple(spans), gap))
        else:
            alone.extend(members)
        members.clear()
        spans.clear()

    for index, duration in enumerate(durations):
        if duration <= 0 or duration > max_clip or duration > budget:
            alone.append(index)
            continue
        start = spans[-1][1] + gap if spans else 0.0
        if start + duration > budget:
            close()
            start = 0.0
        members.append(index)
        spans.append((start, start + duration))
    close()
    return windows, sorted(alone)


def pack_audio(window: Window, waves: Sequence[np.ndarray], rate: int) -> np.ndarray:
    """The window's waveform: each clip at its span's start, silence between (`waves` indexed like `members`)."""
    total = int(round(window.duration * rate)) + 1
    out = np.zeros(total, dtype=np.float32)
    for (start, _end), wave in zip(window.spans, waves, strict=True):
        at = int(round(start * rate))
        out[at : at + len(wave)] = wave[: total - at]
    return out


def assign_words(
    window: Window, words: Sequence[TimedWord], *, slack: float = 0.25, min_probability: float = 0.5
) -> list[str | None]:
    """Each member's transcript from the window's words, or None where the assignment is not trustworthy.

    A word belongs to the clip whose territory (its span widened to the middle of the gaps around it) holds the
    word's midpoint. A word that covers a whole gap may have swallowed the end of one clip and the start of the
    next: both clips are marked None. A word whose midpoint lies in silence, more than `slack` seconds outside
    its clip, was likely invented: its clip is None; so is a clip holding a word below `min_probability`. A clip
    without any word is None too (Whisper may have skipped it).
    """
    bounds = _territory_bounds(window)
    texts: list[list[str]] = [[] for _ in window.members]
    doubtful: set[int] = set()
    for word in words:
        mid = (word.start + word.end) / 2
        k = int(np.searchsorted(bounds, mid, side="right"))
        texts[k].append(word.text)
        start, end = window.spans[k]
        if not start - slack <= mid <= end + slack or word.probability < min_probability:
            doubtful.add(k)
        for gap_index, (left, right) in enumerate(_gaps(window)):
            if word.start <= left and word.end >= right:
                doubtful.update((gap_index, gap_index + 1))
    out: list[str | None] = []
    for k, parts in enumerate(texts):
        text = "".join(parts).strip()
        out.append(None if k in doubtful or not text else text)
    return out


def _gaps(window: Window) -> list[tuple[float, float]]:
    return [(a[1], b[0]) for a, b in zip(window.spans, window.spans[1:], strict=False)]


def _territory_bounds(window: Window) -> np.ndarray:
    """Split points between neighbouring clips' territories: the middle of each gap."""
    return np.array([(left + right) / 2 for left, right in _gaps(window)], dtype=np.float64)
