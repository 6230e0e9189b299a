"""A seeded voice pool: each (seed, sample id, turn) draws the same engine, voice, speed and noise on every run.

Drawing from the sample id rather than from a running RNG keeps a sample's voice independent of which shard,
worker or rerun processes it, which is what makes resumes and Dask runs reproduce a local run exactly.

Noise is part of the draw (`Voice.options["snr_db"]`) but applied after synthesis by `apply_noise`, so every engine
gets the same kind of degradation and the clean audio stays reproducible on its own.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datagen.backends.base import Voice
from datagen.records import Audio

# Voice options consumed after synthesis (by `apply_noise`), not by the engine: engines must ignore these keys.
POST_OPTIONS = frozenset({"snr_db", "noise_color"})
_SNR_LIMITS = (-10.0, 100.0)  # below -10 dB the speech is gone; above 100 dB the noise is below 16-bit resolution
_NOISE_STREAM = 0x6E6F6973  # "nois": keeps the noise stream apart from any engine stream drawn from the same seed


class VoiceChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tts: str = Field(description="name of a synthesizer in the manifest's backends")
    voice: str | None = Field(None, description="engine voice name; None = the engine's default voice")
    speed: tuple[float, float] = Field((1.0, 1.0), description="uniform range of speaking-rate factors")
    weight: float = Field(1.0, gt=0)
    noise_snr_db: tuple[float, float] | None = Field(
        None, description="uniform range of the SNR (dB) of additive noise; None = clean audio"
    )
    noise_color: Literal["white", "pink"] = Field("white", description="spectrum of the additive noise")

    @model_validator(mode="after")
    def _check_ranges(self) -> VoiceChoice:
        lo, hi = self.speed
        if not 0.25 <= lo <= hi <= 4.0:
            raise ValueError(f"speed range {self.speed} must satisfy 0.25 <= low <= high <= 4")
        if self.noise_snr_db is not None:
            lo, hi = self.noise_snr_db
            if not (math.isfinite(lo) and math.isfinite(hi) and _SNR_LIMITS[0] <= lo <= hi <= _SNR_LIMITS[1]):
                raise ValueError(
                    f"noise_snr_db range {self.noise_snr_db} must satisfy {_SNR_LIMITS[0]:g} <= low <= high <= "
                    f"{_SNR_LIMITS[1]:g} (dB)"
                )
        return self


def draw_voice(
    pool: list[VoiceChoice], seed: int, sample_id: str, turn: int, engine_of: dict[str, str], *, attempt: int = 0
) -> Voice:
    """The voice of (seed, sample id, turn); `attempt` k > 0 is the k-th re-synthesis after a failed take.

    Retries walk the other pool entries in a seeded, weighted order without repeats (the next voice, not the same
    one again), wrapping around when the pool is exhausted; speed, seed and noise are drawn afresh per attempt.
    """
    key = f"{seed}\x1f{sample_id}\x1f{turn}"
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    index = rng.choices(range(len(pool)), weights=[c.weight for c in pool])[0]  # same draw as choosing from pool
    if attempt:
        order = _retry_order(pool, key, index)
        index = order[(attempt - 1) % len(order)] if order else index
        rng = random.Random(hashlib.sha256(f"{key}\x1fattempt {attempt}".encode()).digest())
    choice = pool[index]
    speed = round(rng.uniform(*choice.speed), 3)
    voice_seed = rng.getrandbits(31)
    options: dict[str, object] = {}
    if choice.noise_snr_db is not None:  # drawn last, so pools without noise draw exactly what they did before
        options = {"snr_db": round(rng.uniform(*choice.noise_snr_db), 2), "noise_color": choice.noise_color}
    return Voice(
        engine=engine_of[choice.tts],
        name=choice.voice or "",
        backend=choice.tts,
        speed=speed,
        seed=voice_seed,
        options=options,
    )


def _retry_order(pool: list[VoiceChoice], key: str, first: int) -> list[int]:
    """Pool indices other than `first`, in a seeded weighted order (heavier entries tend to come sooner)."""
    rng = random.Random(hashlib.sha256(f"{key}\x1fretry order".encode()).digest())
    keyed = [(rng.random() ** (1.0 / c.weight), i) for i, c in enumerate(pool) if i != first]
    return [i for _, i in sorted(keyed, reverse=True)]


def engine_options(voice: Voice) -> Voice:
    """The voice an engine should see: post-synthesis options removed."""
    if not POST_OPTIONS & voice.options.keys():
        return voice
    return replace(voice, options={k: v for k, v in voice.options.items() if k not in POST_OPTIONS})


def apply_noise(audio: Audio, voice: Voice) -> Audio:
    """Add white or pink noise at `voice.options["snr_db"]` (signal power over the whole clip), seeded by the voice.

    Identity without `snr_db` or for a silent clip (no SNR is defined). If the sum would leave [-1, 1], signal and
    noise are scaled down together, which keeps the SNR.
    """
    snr_db = voice.options.get("snr_db")
    if snr_db is None:
        return audio
    clean = np.asarray(audio.array, dtype=np.float64).reshape(-1)
    signal_power = float(np.mean(clean**2)) if clean.size else 0.0
    if signal_power <= 0.0:
        return audio
    rng = np.random.default_rng([voice.seed & 0xFFFFFFFFFFFFFFFF, _NOISE_STREAM])
    noise = _pink(rng, clean.size) if voice.options.get("noise_color") == "pink" else rng.standard_normal(clean.size)
    noise *= math.sqrt(signal_power / (10.0 ** (float(snr_db) / 10.0) * float(np.mean(noise**2))))
    noisy = clean + noise
    peak = float(np.max(np.abs(noisy)))
    if peak > 1.0:
        noisy /= peak
    return Audio(array=noisy.astype(np.float32), sampling_rate=audio.sampling_rate)


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    """1/f noise: white noise shaped in the frequency domain (amplitude ∝ 1/sqrt(f)); DC removed."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = np.inf  # no DC offset
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n=n)
    return noise if np.any(noise) else rng.standard_normal(n)
