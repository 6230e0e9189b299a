"""Voice-pool noise (drawn reproducibly, applied at the drawn SNR) and the `datagen backends` listing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from datagen.backends.base import Voice
from datagen.cli import main
from datagen.records import Audio
from datagen.voices import VoiceChoice, apply_noise, draw_voice

ENGINES = {"a": "fake_tts", "b": "piper"}
RATE = 16000
REPO = Path(__file__).resolve().parents[1]


def _tone(amplitude: float = 0.3, seconds: float = 1.0) -> Audio:
    t = np.arange(int(RATE * seconds)) / RATE
    return Audio(array=(amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sampling_rate=RATE)


def _snr(clean: np.ndarray, noisy: np.ndarray, rescaled: bool = False) -> float:
    gain = float(np.dot(noisy, clean) / np.dot(clean, clean)) if rescaled else 1.0  # estimate a common rescale
    noise = noisy / gain - clean
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))


def test_drawn_snr_is_reproducible_and_in_range() -> None:
    pool = [VoiceChoice(tts="a", noise_snr_db=(15, 30)), VoiceChoice(tts="b")]
    draws = [draw_voice(pool, 5, f"id-{i}", 0, ENGINES) for i in range(300)]
    assert draws == [draw_voice(pool, 5, f"id-{i}", 0, ENGINES) for i in range(300)]
    noisy = [v for v in draws if v.backend == "a"]
    clean = [v for v in draws if v.backend == "b"]
    assert noisy and clean and all(not v.options for v in clean)
    snrs = [v.options["snr_db"] for v in noisy]
    assert all(15 <= s <= 30 for s in snrs) and max(snrs) - min(snrs) > 10
    assert {v.options["noise_color"] for v in noisy} == {"white"}


def test_noise_leaves_the_rest_of_the_draw_unchanged() -> None:
    """Adding noise to a pool entry must not re-voice existing runs: engine, speed and seed stay as they were."""
    plain = [VoiceChoice(tts="a", speed=(0.8, 1.2)), VoiceChoice(tts="b")]
    noisy = [VoiceChoice(tts="a", speed=(0.8, 1.2), noise_snr_db=(10, 20)), VoiceChoice(tts="b")]
    for i in range(100):
        p, n = draw_voice(plain, 1, f"x{i}", 0, ENGINES), draw_voice(noisy, 1, f"x{i}", 0, ENGINES)
        assert (p.backend, p.speed, p.seed) == (n.backend, n.speed, n.seed)


@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("snr", [0.0, 10.0, 25.0])
def test_apply_noise_hits_the_snr_and_is_seeded(color: str, snr: float) -> None:
    clean = _tone(0.1)
    voice = Voice("flite", "slt", seed=42, options={"snr_db": snr, "noise_color": color})
    noisy = apply_noise(clean, voice)
    assert noisy.sampling_rate == RATE and noisy.array.dtype == np.float32 and noisy.array.shape == clean.array.shape
    assert abs(_snr(clean.array, noisy.array) - snr) < 0.05
    assert np.array_equal(noisy.array, apply_noise(clean, voice).array)
    other = apply_noise(clean, Voice("flite", "slt", seed=43, options=voice.options))
    assert not np.array_equal(noisy.array, other.array)


def test_loud_audio_is_rescaled_keeping_the_snr() -> None:
    clean = _tone(0.95)
    noisy = apply_noise(clean, Voice("x", seed=1, options={"snr_db": 5.0}))
    assert np.abs(noisy.array).max() <= 1.0
    assert abs(_snr(clean.array, noisy.array, rescaled=True) - 5.0) < 0.3


def test_pink_noise_has_more_low_than_high_frequency_power() -> None:
    silent_ish = Audio(array=np.full(RATE * 2, 1e-3, dtype=np.float32), sampling_rate=RATE)

    def band_ratio_db(color: str) -> float:
        voice = Voice("x", seed=3, options={"snr_db": 0.0, "noise_color": color})
        noise = apply_noise(silent_ish, voice).array - silent_ish.array
        power = np.abs(np.fft.rfft(noise)) ** 2
        freqs = np.fft.rfftfreq(noise.size, 1 / RATE)
        low = power[(freqs >= 100) & (freqs < 200)].mean()
        high = power[(freqs >= 3200) & (freqs < 6400)].mean()
        return 10 * np.log10(low / high)

    assert band_ratio_db("pink") > 10  # 1/f: ~15 dB between these octaves
    assert abs(band_ratio_db("white")) < 2


def test_no_snr_or_silence_is_identity() -> None:
    clean = _tone()
    assert apply_noise(clean, Voice("x", seed=1)) is clean
    silence = Audio(array=np.zeros(100, dtype=np.float32), sampling_rate=RATE)
    assert apply_noise(silence, Voice("x", seed=1, options={"snr_db": 10.0})) is silence


@pytest.mark.parametrize(
    "snr",
    [(30, 15), (-20, 10), (10, 200), (float("nan"), 10), (10,), "loud", (float("inf"), float("inf"))],
)
def test_bad_snr_ranges_are_rejected(snr: object) -> None:
    with pytest.raises(ValidationError):
        VoiceChoice.model_validate({"tts": "a", "noise_snr_db": snr})


def test_bad_noise_color_rejected_and_good_ranges_accepted() -> None:
    with pytest.raises(ValidationError):
        VoiceChoice.model_validate({"tts": "a", "noise_snr_db": [10, 20], "noise_color": "brown"})
    assert VoiceChoice.model_validate({"tts": "a", "noise_snr_db": [15, 15]}).noise_snr_db == (15, 15)


def test_engines_get_the_draw_without_post_synthesis_options() -> None:
    """Noise is added after synthesis: engines see the voice without snr_db, and refuse options they don't know."""
    from datagen.backends.flite import FliteSynthesizer
    from datagen.voices import engine_options

    if FliteSynthesizer.unavailable_reason():
        pytest.skip(FliteSynthesizer.unavailable_reason())
    voice = Voice("flite", "slt", seed=5, options={"snr_db": 20.0, "noise_color": "pink"})
    clean = engine_options(voice)
    assert clean.options == {} and (clean.name, clean.seed) == ("slt", 5)
    (audio,) = FliteSynthesizer().synthesize(["Hello."], [clean])
    assert audio is not None
    assert FliteSynthesizer().synthesize(["Hello."], [voice]) == [None]


# -- datagen backends --


def test_backends_command_lists_every_engine(capsys: pytest.CaptureFixture[str]) -> None:
    from datagen import registry

    assert main(["backends", "--json"]) == 0
    rows = {r["engine"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(registry.BACKENDS)
    for name, row in rows.items():
        cls = registry.backend_class(name)
        assert row["usable"] == (cls.unavailable_reason() is None)
        assert row["reason"] == cls.unavailable_reason()
    assert rows["flite"]["can"] == ["synthesize"] and rows["faster_whisper"]["can"] == ["transcribe", "draft"]
    assert rows["phi4"]["can"] == ["transcribe", "generate"] and rows["hf_lm"]["can"] == ["generate", "score"]
    assert rows["fake_tts"]["voices"] == ["alpha", "beta", "gamma"]
    if rows["flite"]["usable"]:
        assert set(rows["flite"]["voices"]) == {"slt", "rms", "awb", "kal16"}

    assert main(["backends"]) == 0
    text = capsys.readouterr().out
    lines = {line.split()[0]: line for line in text.splitlines() if line and not line.startswith(" ")}
    assert set(lines) == set(registry.BACKENDS)
    for name, row in rows.items():
        assert ("ok" if row["usable"] else "unavailable:") in lines[name]


def test_unavailable_reason_names_the_missing_program(monkeypatch: pytest.MonkeyPatch) -> None:
    from datagen.backends import cli_tts
    from datagen.backends.espeak import EspeakSynthesizer
    from datagen.backends.flite import FliteSynthesizer

    monkeypatch.setattr(cli_tts, "find_program", lambda name: None)
    assert "apt-get install flite" in FliteSynthesizer.unavailable_reason()
    assert "apt-get install espeak-ng" in EspeakSynthesizer.unavailable_reason()


# -- the shipped multi-engine manifest --


@pytest.mark.embedded
@pytest.mark.slow
def test_voice_pool_manifest_runs_with_several_engines(tmp_path: Path) -> None:
    from datagen import registry
    from datagen.manifest import load_manifest
    from datagen.run import run

    path = REPO / "manifests" / "voice_pool.yaml"
    manifest = load_manifest(path)  # validates every engine's settings and the pool entries
    engines = {b.engine for b in manifest.backends.values()}
    missing = {e: registry.backend_class(e).unavailable_reason() for e in engines}
    if any(missing.values()):
        pytest.skip(f"engines not usable here: { {e: r for e, r in missing.items() if r} }")
    manifest = load_manifest(path, {"output.path": str(tmp_path / "out"), "input.limit": 3})
    stats = run(manifest)
    assert stats["seen"] == 3

    rows = []
    for part in sorted((tmp_path / "out" / "data").glob("*.parquet")):
        rows += pq.read_table(part, columns=["speech"]).to_pylist()
    speech = [turn for row in rows if row["speech"] for turn in row["speech"]]
    assert len({turn["tts"] for turn in speech}) > 1, speech
    voices = json.loads((tmp_path / "out" / "stats.json").read_text())["voices"]
    assert len({key.split(":")[0] for key in voices}) > 1, voices

    step = manifest.steps[0]
    engine_of = {name: b.engine for name, b in manifest.backends.items()}
    drawn = [draw_voice(step.voices, manifest.seed, f"{i}", 0, engine_of) for i in range(200)]
    noisy = [v for v in drawn if "snr_db" in v.options]
    assert noisy and all(15 <= v.options["snr_db"] <= 30 for v in noisy)
