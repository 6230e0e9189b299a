"""Resampling calls soxr as librosa does by default: the same samples, without librosa's imports."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from datagen.records import Audio, resample


@pytest.mark.parametrize(
    ("size", "orig", "target"),
    [(46305, 22050, 16000), (1, 22050, 16000), (7, 24000, 16000), (48011, 44100, 16000), (5000, 8000, 16000)],
)
def test_resample_gives_librosa_s_samples(size: int, orig: int, target: int) -> None:
    wave = (np.random.default_rng(size).standard_normal(size) * 0.3).astype(np.float32)
    ours = resample(wave, orig, target)
    theirs = librosa.resample(wave, orig_sr=orig, target_sr=target)
    assert ours.dtype == np.float32
    assert ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)


def test_same_rate_is_the_wave_itself() -> None:
    wave = np.linspace(-1, 1, 100, dtype=np.float32)
    assert np.array_equal(resample(wave, 16000, 16000), wave)
    clip = Audio(wave, 16000)
    assert clip.resampled(16000) is clip
