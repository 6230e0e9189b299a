"""The one record type that flows through a pipeline.

A `Sample` holds typed core fields (chat turns, images, audio) and a `meta` dict for everything a step adds
(scores, transcripts, provenance). It is immutable: steps return `evolve`d copies, so a dropped sample's state
is exactly what the step saw. This module depends on nothing else in datagen.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

# A media placeholder in a chat turn (ms-swift style): `<image>`, `<audio>` or `<video>`, in the order of its media.
MEDIA_TAG = re.compile(r"<(image|audio|video)>")


@dataclass(slots=True, frozen=True)
class Audio:
    """Mono float32 waveform in [-1, 1].

    `wav`: the stored file this audio was decoded from (a finished dataset read back); written back as-is, since
    decoding and re-encoding 16-bit PCM is not lossless. Audio a step changes is a new `Audio` without it.
    """

    array: np.ndarray
    sampling_rate: int
    wav: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> float:
        return len(self.array) / float(self.sampling_rate)

    def to_wav_bytes(self) -> bytes:
        if self.wav is not None:
            return self.wav
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, np.asarray(self.array, dtype=np.float32), self.sampling_rate, format="WAV", subtype="PCM_16")
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, *, keep: bool = False) -> Audio:
        """`keep`: remember `data` as the audio's `wav` (a dataset read back, whose bytes must not change)."""
        import soundfile as sf

        array, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return cls(array=array.mean(axis=1).astype(np.float32), sampling_rate=int(sr), wav=data if keep else None)

    def resampled(self, sampling_rate: int) -> Audio:
        """Resampling is needed by ASR engines that take one rate only (Whisper and Phi-4: 16 kHz)."""
        if sampling_rate == self.sampling_rate:
            return self
        return Audio(array=resample(self.array, self.sampling_rate, sampling_rate), sampling_rate=sampling_rate)


def resample(array: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """A mono float32 wave at another rate: soxr's high-quality resampler, called as `librosa.resample` calls it
    by default (same samples, same length). Calling soxr directly skips librosa's scipy and numba imports, about
    0.9 s and 90 MiB in every process that only needs to resample."""
    import soxr

    wave = np.asarray(array, dtype=np.float32).reshape(-1)
    if orig_rate == target_rate:
        return wave
    length = int(np.ceil(wave.size * (float(target_rate) / orig_rate)))
    out = soxr.resample(wave, orig_rate, target_rate, quality="soxr_hq")[:length]
    return np.pad(out, (0, length - out.size)).astype(np.float32, copy=False)


@dataclass(slots=True, frozen=True)
class Image:
    """Encoded image bytes (PNG/JPEG/...) kept as-is, so the output embeds the source file without re-encoding."""

    data: bytes
    filename: str = ""

    def to_pil(self) -> Any:
        from PIL import Image as PILImage

        img = PILImage.open(io.BytesIO(self.data))
        img.load()
        return img

    @classmethod
    def from_path(cls, path: Path) -> Image:
        return cls(data=path.read_bytes(), filename=path.name)


@dataclass(slots=True, frozen=True)
class Message:
    """A chat turn. `audio` indexes `Sample.audios` when this turn also exists as speech (the spoken query)."""

    role: str  # "system" | "user" | "assistant"
    content: str
    audio: int | None = None


@dataclass(slots=True, frozen=True)
class Sample:
    """A unit of data. `id` is stable across reruns (taken from the source record), so resumes line up."""

    id: str
    messages: tuple[Message, ...] = ()
    images: tuple[Image, ...] = ()
    audios: tuple[Audio, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    def evolve(self, *, meta: dict[str, Any] | None = None, **changes: Any) -> Sample:
        """Copy with `changes`; `meta` entries are merged into (not replacing) the existing meta."""
        if meta is not None:
            changes["meta"] = {**self.meta, **meta}
        return replace(self, **changes)

    def user_turns(self) -> list[int]:
        return [i for i, m in enumerate(self.messages) if m.role == "user"]


@dataclass(slots=True, frozen=True)
class Rejected:
    """A record that left the pipeline, with a stable snake_case reason (`wer_above_max`, `image_unreadable`)."""

    id: str
    reason: str
    step: str
    detail: str = ""
    sample: Sample | None = None
    raw: str = ""  # the source record as text, when the record never became a Sample
