"""flite (CMU, Debian package `flite`): tiny, fast diphone/clustergen voices, 16 kHz.

Deterministic (no random sampling), so `Voice.seed` changes nothing. Speed maps to flite's `duration_stretch`.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel, ConfigDict, Field

from datagen.backends.base import Voice
from datagen.backends.cli_tts import CommandSynthesizer, Program, run_program

# `kal` and `awb_time` are limited voices (diphone / time-only domain): not offered in a pool.
_LIMITED = frozenset({"kal", "awb_time"})


class FliteSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    voice: str = Field("slt", description="default voice (flite -lv lists them: slt, rms, awb, kal16)")
    timeout_seconds: float = Field(60.0, gt=0, description="per utterance")


@cache
def _listed_voices(program: str) -> tuple[str, ...]:
    out = run_program([program, "-lv"], timeout=30)  # "Voices available: kal awb_time kal16 awb rms slt"
    return tuple(out.split(":", 1)[-1].split())


@cache
def _version(program: str) -> str:
    out = run_program([program, "--version"], timeout=30, check=False)  # flite exits 1 after printing it
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if "version" in line), out.strip())


class FliteSynthesizer(CommandSynthesizer[FliteSettings]):
    """flite voice; `Voice.speed` -> `duration_stretch = 1 / speed`."""

    engine = "flite"
    program = Program("flite", "apt-get install flite", voice_flag="-voice", output_flag="-o", version=_version)

    def _voices_of(self, program: str) -> list[str]:
        return sorted(set(_listed_voices(program)) - _LIMITED, key=lambda v: (v != self.settings.voice, v))

    def _options(self, voice: Voice) -> list[str]:
        return ["--setf", f"duration_stretch={1.0 / voice.speed:.4f}"]
