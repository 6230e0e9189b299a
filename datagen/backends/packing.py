"""Packing short clips into one Whisper window, and decoding each clip on its own.

Whisper pads every input to a 30-s window, so a 2-s clip costs the encoder 15x its length. Clips joined with
silence gaps share one window and one encoder pass; then each clip is decoded from a prompt that starts at its own
timestamp, all clips of the window in one batch. Decoding them apart matters: decoded in one go, each clip's words
would be conditioned on its neighbours' words (a clip that repeats the previous question is heard "right" because
the previous one was). A clip's decode is trusted only if it ends with a timestamp inside the clip's slice
(`read_clip`); anything else is left to a one-by-one transcription. `length_groups` groups clips of similar
length, for drafts that share one short window length (`faster_whisper.draft`). Pure: no model here.
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


TIMESTAMP_SECONDS = 0.02  # Whisper's timestamp tokens step


@dataclass(slots=True, frozen=True)
class SpecialTokens:
    """The tokenizer ids `read_clip` needs: end of text, and the first timestamp (<|0.00|>)."""

    eot: int
    timestamp_begin: int

    def timestamp(self, seconds: float) -> int:
        return self.timestamp_begin + round(seconds / TIMESTAMP_SECONDS)


def read_clip(
    tokens: Sequence[int], start: float, until: float, special: SpecialTokens, *, slack: float = 0.25
) -> list[int] | None:
    """The text tokens of one clip's decode (prompted with its `start` timestamp), or None if not trustworthy.

    Trusted: text, then a closing timestamp after `start` and no later than `until` (the next clip's start: Whisper
    closes a segment where the next speech begins) plus `slack`. Not trusted: no text, text that runs on without a
    closing timestamp (into the next clip, or to the length cap), or text closed past `until` (words heard in the
    next clip or invented in the silence). Leading timestamps (the prompt's own, when echoed) are skipped.
    """
    rest = list(tokens)
    while rest and rest[0] >= special.timestamp_begin:
        rest.pop(0)
    text = []
    for token in rest:
        if token >= special.eot:
            if not special.timestamp(start) < token <= special.timestamp(until + slack):  # eot is below both
                return None
            return text or None
        text.append(token)
    return None


def clip_limits(window: Window) -> list[tuple[float, float]]:
    """(start, until) per member for `read_clip`: a clip's decode may close up to the next clip's start (the
    last clip: one gap after its end)."""
    starts = [start for start, _end in window.spans]
    untils = [*starts[1:], window.spans[-1][1] + window.gap]
    return list(zip(starts, untils, strict=True))


def length_groups(lengths: dict[int, int], *, spread: int) -> list[list[int]]:
    """The keys of `lengths` in groups of similar length (longest - shortest <= `spread`), shortest first; ties
    in key order. Drafts share a window per group, so no clip is padded by more than `spread` beyond its margin."""
    groups: list[list[int]] = []
    for key in sorted(lengths, key=lambda k: (lengths[k], k)):
        if groups and lengths[key] - lengths[groups[-1][0]] <= spread:
            groups[-1].append(key)
        else:
            groups.append([key])
    return groups
