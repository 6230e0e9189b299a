"""audio_quality: scores on synthetic waveforms with known properties, and the drop reasons they lead to."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.records import Audio, Message, Sample
from filters.audio_quality import AudioQuality, AudioQualityConfig, audio_stats

SR = 16000


def speech_like(seconds: float = 2.0, *, noise: float = 1e-3, level: float = 0.3, pause: float = 0.3) -> np.ndarray:
    """A tone in bursts with pauses between (like words) over white noise: SNR ≈ 20·log10(level/noise)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    bursts = (np.floor(t / pause) % 2 == 0).astype(np.float32)
    wave = level * np.sqrt(2) * np.sin(2 * np.pi * 220 * t) * bursts + rng.normal(0, noise, t.size)
    return wave.astype(np.float32)


def sample(*waves: np.ndarray, spoken: bool = True) -> Sample:
    audios = tuple(Audio(np.asarray(w, dtype=np.float32), SR) for w in waves)
    msgs = (Message("user", "What is this?", audio=0 if spoken and waves else None), Message("assistant", "A cat."))
    return Sample(id="s", messages=msgs, audios=audios)


def judge(s: Sample, **config) -> tuple[bool, str, dict]:
    verdict = AudioQuality(AudioQualityConfig(**config)).judge(s)
    return verdict.keep, verdict.reason, verdict.scores


def test_stats_match_the_construction() -> None:
    stats = audio_stats(speech_like(noise=1e-3, level=0.3), SR)
    assert stats.duration == 2.0 and stats.clipping == 0.0
    assert 0.3 < stats.silence < 0.6  # half the time is pause
    assert 45 < stats.snr_db < 55  # 20·log10(0.3 / 0.001) ≈ 49.5
    assert -14 < stats.rms_dbfs < -10  # half-time bursts of RMS 0.3: ≈ -13.5 dBFS
    noisy = audio_stats(speech_like(noise=0.1, level=0.3), SR)
    assert noisy.snr_db < 12 and noisy.silence == 0.0  # the noise floor is above the silence level


def test_leading_and_trailing_silence_are_measured() -> None:
    wave = np.concatenate([np.zeros(SR), speech_like(1.0, noise=0.0), np.zeros(SR // 2)])
    stats = audio_stats(wave, SR)
    assert stats.leading_silence == pytest.approx(1.0, abs=0.03)
    assert stats.trailing_silence == pytest.approx(0.5 + 0.1, abs=0.03)  # the last 0.1 s pause of the bursts too


@pytest.mark.parametrize(
    ("waves", "config", "keep", "reason"),
    [
        ((speech_like(),), {}, True, ""),  # clean
        ((speech_like(0.3, pause=0.05),), {"min_seconds": 0.3}, True, ""),  # exactly at the lower bound
        ((speech_like(0.29, pause=0.05),), {"min_seconds": 0.3}, False, "audio_too_short"),
        ((speech_like(2.0),), {"max_seconds": 2.0}, True, ""),  # exactly at the upper bound
        ((speech_like(2.5),), {"max_seconds": 2.0}, False, "audio_too_long"),
        ((np.clip(speech_like(level=3.0), -1, 1),), {}, False, "audio_clipped"),
        ((np.zeros(2 * SR),), {}, False, "audio_silent"),
        ((speech_like(level=0.001, noise=0.0),), {}, False, "audio_silent"),  # -63 dBFS
        ((np.concatenate([np.zeros(4 * SR), speech_like()]),), {}, False, "audio_silent"),  # 4 s lead-in
        ((speech_like(noise=0.15),), {}, False, "audio_low_snr"),
        ((speech_like(), np.zeros(2 * SR)), {"audios": "spoken"}, True, ""),  # the unspoken silent clip is ignored
        ((speech_like(), np.zeros(2 * SR)), {"audios": "all"}, False, "audio_silent"),
        ((), {}, False, "audio_missing"),
        ((), {"require_audio": False}, True, ""),
        ((np.zeros(0),), {}, False, "audio_too_short"),  # zero-length
        ((np.full(SR, np.nan),), {}, False, "audio_invalid"),
    ],
)
def test_table(waves: tuple, config: dict, keep: bool, reason: str) -> None:
    kept, why, scores = judge(sample(*waves), **config)
    assert (kept, why) == (keep, reason)
    scored = bool(waves) and waves[0].size > 0 and bool(np.isfinite(waves[0]).all())
    assert ("snr_db" in scores) == scored  # every clip that could be scored carries its scores, kept or dropped


def test_clipping_exactly_at_the_limit_is_kept() -> None:
    wave = speech_like(1.0, level=0.1)
    wave[:16] = 1.0  # 16 of 16000 samples = 0.001
    assert judge(sample(wave), max_clipping=0.001)[:2] == (True, "")
    wave[16] = 1.0
    assert judge(sample(wave), max_clipping=0.001)[:2] == (False, "audio_clipped")


def test_scores_land_in_meta_for_kept_and_dropped() -> None:
    step = AudioQuality(AudioQualityConfig(min_snr_db=100))
    out = step.process([sample(speech_like())])[0]
    assert out.reason == "audio_low_snr" and out.step == "audio_quality"
    meta = out.sample.meta
    assert meta["snr_db"] == meta["audio_quality"][0]["snr_db"] and 45 < meta["snr_db"] < 55
    assert set(meta["audio_quality"][0]) == {"audio", *AudioQuality.features()["audio_quality"].feature}


@pytest.mark.parametrize(
    "audio",
    [Audio(np.zeros((2, 100), dtype=np.float32), SR), Audio(np.ones(100, dtype=np.float32), 0), "not audio"],
)
def test_malformed_audio_is_a_drop_not_an_exception(audio: object) -> None:
    s = Sample(id="m", messages=(Message("user", "q", audio=0),), audios=(audio,))  # type: ignore[arg-type]
    kept, reason, _ = judge(s)
    assert not kept and reason in ("audio_invalid", "audio_missing")


def test_spoken_index_out_of_range_is_missing() -> None:
    s = Sample(id="m", messages=(Message("user", "q", audio=3),), audios=(Audio(speech_like(), SR),))
    assert judge(s, audios="spoken")[:2] == (False, "audio_missing")
