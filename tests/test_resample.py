"""Resampling calls soxr as librosa does by default: the same samples, without librosa's imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest

from datagen.records import Audio, resample

REPO = Path(__file__).resolve().parent.parent


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


def test_resampling_does_not_import_librosa() -> None:
    code = (
        "import sys, numpy as np; from datagen.records import Audio; "
        "a = Audio(np.zeros(22050, np.float32), 22050).resampled(16000); "
        "assert a.array.size == 16000 and a.sampling_rate == 16000; print('librosa' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
