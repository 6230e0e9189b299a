"""A seeded voice pool: each (seed, sample id, turn) draws the same engine, voice and speed on every run.

Drawing from the sample id rather than from a running RNG keeps a sample's voice independent of which shard,
worker or rerun processes it, which is what makes resumes and Dask runs reproduce a local run exactly.
"""

from __future__ import annotations

import hashlib
import random

from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.backends.base import Voice


class VoiceChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tts: str = Field(description="name of a synthesizer in the manifest's backends")
    voice: str | None = Field(None, description="engine voice name; None = the engine's default voice")
    speed: tuple[float, float] = Field((1.0, 1.0), description="uniform range of speaking-rate factors")
    weight: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _check_speed(self) -> VoiceChoice:
        lo, hi = self.speed
        if not 0.25 <= lo <= hi <= 4.0:
            raise ValueError(f"speed range {self.speed} must satisfy 0.25 <= low <= high <= 4")
        return self


def draw_voice(pool: list[VoiceChoice], seed: int, sample_id: str, turn: int, engine_of: dict[str, str]) -> Voice:
    key = f"{seed}\x1f{sample_id}\x1f{turn}"
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    choice = rng.choices(pool, weights=[c.weight for c in pool])[0]
    speed = round(rng.uniform(*choice.speed), 3)
    return Voice(
        engine=engine_of[choice.tts],
        name=choice.voice or "",
        backend=choice.tts,
        speed=speed,
        seed=rng.getrandbits(31),
    )
