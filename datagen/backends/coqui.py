"""coqui-tts (the `TTS` package): any coqui model from a local folder, or a hub model already in coqui's cache.

coqui ships no weights: `tts_models/...` names download on first use, so they are refused unless the model is in
coqui's cache or `allow_download` is set (a machine with network). A local model folder (config.json + checkpoint,
as coqui saves them) or `model_path` + `config_path` load through the same `TTS.api.TTS` path either way.

Voices: the model's speakers (multi-speaker VITS), or `clone:<name>` for each reference clip (XTTS-v2, YourTTS).
Reproducible: each item runs under `torch.random.fork_rng` seeded with `Voice.seed` (VITS samples its durations
and latent with torch RNG), so the same text + voice + seed gives the same audio, independent of batch order.
Speed: VITS `length_scale = default / speed`; XTTS its `speed` argument; other models a librosa time-stretch.
"""

from __future__ import annotations

import importlib.util
import json
import math
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.backends.base import BackendError, ItemSynthesizer, Voice, package_version
from datagen.records import Audio

_INSTALL_HINT = "pip install coqui-tts six (it needs torchaudio and torchcodec)"
_CLONE = "clone:"
_SINGLE = "default"  # the voice name of a single-speaker model
_CHECKPOINT_NAMES = ("model.pth", "model_file.pth", "best_model.pth", "checkpoint.pth", "model.pth.tar")


class CoquiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(
        None, description="a coqui model name (tts_models/en/vctk/vits: needs coqui's cache or allow_download) "
        "or a local model folder (config.json + checkpoint)"
    )  # fmt: skip
    model_path: str | None = Field(None, description="checkpoint file (or XTTS folder); with config_path")
    config_path: str | None = Field(None, description="config.json for model_path; default: beside it")
    speaker: str | None = Field(None, description="default voice; None = the model's first speaker")
    language: str | None = Field(None, description="language for multilingual models (XTTS: en)")
    reference_audio: list[str] | dict[str, list[str]] = Field(
        default_factory=list, description="wav clips for voice cloning: a list (voice clone:<file stem>) or "
        "{name: [clips]} (voice clone:<name>)"
    )  # fmt: skip
    device: str = Field("cpu", description="torch device: cpu, cuda, cuda:1")
    allow_download: bool = Field(False, description="let coqui download a named model (needs network)")

    @model_validator(mode="after")
    def _one_model(self) -> CoquiSettings:
        if (self.model is None) == (self.model_path is None):
            raise ValueError("set exactly one of `model` (name or folder) and `model_path` (+ `config_path`)")
        if self.config_path is not None and self.model_path is None:
            raise ValueError("`config_path` goes with `model_path`")
        return self


class CoquiSynthesizer(ItemSynthesizer[CoquiSettings]):
    """coqui-tts model; see the module docstring for voices, speed and seeding."""

    engine = "coqui"

    _tts: Any = None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        missing = [p for p in ("TTS", "torch", "torchaudio", "torchcodec") if importlib.util.find_spec(p) is None]
        if missing:
            return f"missing Python packages {missing}: {_INSTALL_HINT}"
        return None

    # -- files: resolved without loading --

    @cached_property
    def _files(self) -> tuple[Path, Path]:
        """(checkpoint file or XTTS folder, config.json)."""
        s = self.settings
        if s.model_path is not None:
            checkpoint = Path(s.model_path).expanduser()
            config = Path(s.config_path).expanduser() if s.config_path else _config_beside(checkpoint)
        else:
            folder = Path(str(s.model)).expanduser()
            if not folder.is_dir():
                folder = self._cached_hub_model(str(s.model))
            config = folder / "config.json"
            checkpoint = folder if _model_type(config) == "xtts" else _checkpoint_in(folder)
        for path in (checkpoint, config):
            if not path.exists():
                raise BackendError(f"coqui model file not found: {path}")
        return checkpoint, config

    def _cached_hub_model(self, name: str) -> Path:
        if name.count("/") != 3:
            raise BackendError(f"coqui model {name!r} is neither a folder nor a name like tts_models/en/vctk/vits")
        from TTS.utils.manage import ModelManager

        manager = ModelManager(progress_bar=False)
        folder = Path(manager.output_prefix) / name.replace("/", "--")
        if (folder / "config.json").is_file():
            return folder
        if not self.settings.allow_download:
            raise BackendError(
                f"coqui model {name!r} is not in coqui's cache ({folder}) and would be downloaded; no network here: "
                "use a local model folder, or set allow_download: true on a machine with network"
            )
        manager.download_model(name)
        return folder

    @cached_property
    def _clones(self) -> dict[str, list[str]]:
        refs = self.settings.reference_audio
        groups = refs if isinstance(refs, dict) else {Path(p).stem: [p] for p in refs}
        clones = {f"{_CLONE}{name}": [str(Path(p).expanduser()) for p in paths] for name, paths in groups.items()}
        for paths in clones.values():
            for path in paths:
                if not Path(path).is_file():
                    raise BackendError(f"coqui reference clip not found: {path}")
        return clones

    # -- loading --

    def _load(self) -> None:
        reason = self.unavailable_reason()
        if reason:
            raise BackendError(reason)
        checkpoint, config = self._files
        _ = self._clones
        try:
            from TTS.api import TTS
        except ImportError as exc:
            raise BackendError(f"coqui-tts cannot be imported: {exc} ({_INSTALL_HINT})") from exc
        try:
            tts = TTS(model_path=str(checkpoint), config_path=str(config), progress_bar=False)
            self._tts = tts.to(self.settings.device)
        except (OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise BackendError(f"coqui cannot load {checkpoint}: {type(exc).__name__}: {exc}") from exc
        speaker = self.settings.speaker
        if speaker is not None and speaker not in self.voices():
            raise BackendError(f"coqui speaker {speaker!r} is not in this model's voices {self.voices()[:20]}")

    def teardown(self) -> None:
        self._tts = None
        super().teardown()

    # -- voices and provenance --

    def voices(self) -> list[str]:
        self.setup()
        speakers = list(self._tts.speakers or []) if self._tts.is_multi_speaker else []
        names = [*speakers, *self._clones] or [_SINGLE]
        default = self.settings.speaker
        return [default, *(n for n in names if n != default)] if default in names else names

    @property
    def sampling_rate(self) -> int:
        self.setup()
        return int(self._tts.synthesizer.output_sample_rate)

    def describe(self) -> dict[str, Any]:
        checkpoint, config = self._files
        return {
            **super().describe(),
            "model_path": str(checkpoint),
            "model_type": _model_type(config),
            "coqui_tts_version": package_version("coqui-tts"),
        }

    # -- synthesis --

    def synthesize(self, texts: list[str], voices: list[Voice]) -> list[Audio | None]:
        self.setup()
        errors = (ValueError, RuntimeError, KeyError, IndexError, AssertionError, TypeError)
        return self.synthesize_each(texts, voices, self._synthesize_one, errors)

    def _synthesize_one(self, text: str, voice: Voice) -> Audio:
        import torch

        if not (voice.speed > 0 and math.isfinite(voice.speed)):
            raise ValueError(f"speed must be > 0, got {voice.speed}")
        self.check_voice_options(voice)
        if not text.strip():
            raise ValueError("no speakable content (empty text)")
        name = voice.name or self.voices()[0]
        if name not in self.voices():
            raise ValueError(f"unknown coqui voice {name!r} (this model has {self.voices()[:20]})")
        kwargs: dict[str, Any] = {"language": self.settings.language}
        if name in self._clones:
            kwargs["speaker_wav"] = self._clones[name]
            kwargs["speaker"] = name.removeprefix(_CLONE) if self._model_type == "xtts" else None
        elif name != _SINGLE:
            kwargs["speaker"] = name
        model = self._tts.synthesizer.tts_model
        stretch = 1.0
        scaled = hasattr(model, "length_scale")
        base_length = getattr(model, "length_scale", 1.0)
        if scaled:
            model.length_scale = base_length / voice.speed
        elif self._model_type == "xtts":
            kwargs["speed"] = voice.speed
        else:
            stretch = voice.speed
        devices = [torch.device(self.settings.device).index or 0] if self.settings.device.startswith("cuda") else []
        try:
            with torch.random.fork_rng(devices=devices), torch.inference_mode():
                torch.manual_seed(voice.seed)
                wave = np.asarray(self._tts.tts(text, **kwargs), dtype=np.float32).reshape(-1)
        finally:
            if scaled:
                model.length_scale = base_length
        if stretch != 1.0:
            import librosa

            wave = librosa.effects.time_stretch(wave, rate=stretch).astype(np.float32)
        return self.peak_normalized(wave, self.sampling_rate)

    @cached_property
    def _model_type(self) -> str:
        return _model_type(self._files[1])


def _model_type(config: Path) -> str:
    try:
        return str(json.loads(config.read_text(encoding="utf-8")).get("model", ""))
    except (OSError, ValueError) as exc:
        raise BackendError(f"unreadable coqui config {config}: {exc}") from exc


def _config_beside(checkpoint: Path) -> Path:
    return (checkpoint if checkpoint.is_dir() else checkpoint.parent) / "config.json"


def _checkpoint_in(folder: Path) -> Path:
    for name in _CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return folder / name
    candidates = [p for p in folder.glob("*.pth*") if not p.name.startswith(("speaker", "model_se", "config_se"))]
    if len(candidates) == 1:
        return candidates[0]
    raise BackendError(
        f"no single coqui checkpoint in {folder} (looked for {', '.join(_CHECKPOINT_NAMES)} or one *.pth file)"
    )
