"""espeak-ng (Debian package `espeak-ng`): formant synthesis, robotic but with many voices and variants, 22.05 kHz.

A voice is a language voice (`en-us`, `en-gb-scotland`, ...) optionally with a variant (`en-us+f3`, `en+klatt`):
many distinct-sounding speakers at no model cost, the least intelligible engine here (see OFFLINE_MODELS.md).
Deterministic, so `Voice.seed` changes nothing. `Voice.options["pitch"]` (0-99) overrides the pitch per draw.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from datagen.backends.base import Voice
from datagen.backends.cli_tts import CommandSynthesizer, Program, run_program

_BASE_WPM = 175  # espeak-ng's default rate: speed 1.0
_WPM_RANGE = (80, 500)


class EspeakSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    voice: str = Field("en-us", description="default voice: a language voice, optionally +variant (en-us+f3)")
    language: str = Field("en", description="voices() offers the voices of this language")
    pitch: int = Field(50, ge=0, le=99, description="base pitch (espeak-ng -p)")
    timeout_seconds: float = Field(60.0, gt=0, description="per utterance")


@cache
def _language_voices(program: str, language: str) -> tuple[str, ...]:
    """Language codes of the voices for `language`, without mbrola voices (they need the separate mbrola program)."""
    out = run_program([program, f"--voices={language}"], timeout=30)
    found = []
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and not cols[4].startswith(("mb/", "!v/")):
            found.append(cols[1])
    return tuple(dict.fromkeys(found))


@cache
def _variants(program: str) -> tuple[str, ...]:
    out = run_program([program, "--voices=variant"], timeout=30)
    return tuple(cols[4].removeprefix("!v/") for line in out.splitlines()[1:] if len(cols := line.split()) >= 5)


@cache
def _version(program: str) -> str:
    out = run_program([program, "--version"], timeout=30)  # "eSpeak NG text-to-speech: 1.51  Data at: ..."
    return out.split(":", 1)[-1].split("Data at")[0].strip() or out.strip()


class EspeakSynthesizer(CommandSynthesizer[EspeakSettings]):
    """espeak-ng voice; `Voice.speed` -> words per minute (175 × speed)."""

    engine = "espeak"
    program = Program("espeak-ng", "apt-get install espeak-ng", voice_flag="-v", output_flag="-w", version=_version)

    def _voices_of(self, program: str) -> list[str]:
        """Language voices first (default first), then the default language voice with each variant."""
        languages = _language_voices(program, self.settings.language)
        base = self.settings.voice.split("+", 1)[0]
        variants = [f"{base}+{v}" for v in _variants(program)]
        names = sorted(set(languages) | {self.settings.voice}, key=lambda v: (v != self.settings.voice, v))
        return names + [v for v in variants if v not in names]

    def _check_voice(self, voice: Voice) -> None:
        pitch = voice.options.get("pitch")
        if pitch is not None and not (isinstance(pitch, int | float) and 0 <= pitch <= 99):
            raise ValueError(f"pitch must be 0-99, got {pitch!r}")
        rest = {k: v for k, v in voice.options.items() if k != "pitch"}
        super()._check_voice(Voice(voice.engine, voice.name, voice.backend, voice.speed, voice.seed, rest))

    def _options(self, voice: Voice) -> list[str]:
        wpm = min(max(round(_BASE_WPM * voice.speed), _WPM_RANGE[0]), _WPM_RANGE[1])
        return ["-s", str(wpm), "-p", str(int(voice.options.get("pitch", self.settings.pitch)))]
