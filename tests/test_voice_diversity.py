"""Voice diversity: speaker-embedding maths on constructed vectors, real resemblyzer embeddings of real engines,
and the audit section on a finished run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from browser import CHROMIUM, screenshot, section_page

from datagen.backends.base import Voice
from filters.voice_diversity import (
    SpeakerEncoder,
    effective_voices,
    map_2d,
    same_sounding,
    similarity_matrix,
    voice_means,
)


def _unit(v: list[float]) -> np.ndarray:
    x = np.asarray(v, dtype=float)
    return x / np.linalg.norm(x)


@pytest.mark.parametrize(
    ("vectors", "expected"),
    [
        ([[1, 0, 0], [1, 0, 0], [1, 0, 0]], 1.0),  # three names, one voice
        ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], 3.0),  # three unrelated voices
        ([[1, 0, 0], [1, 0, 0], [0, 1, 0]], 1.8),  # two alike + one apart: between
        ([[1, 0]], 1.0),
    ],
)
def test_effective_voices(vectors: list[list[float]], expected: float) -> None:
    means = np.stack([_unit(v) for v in vectors])
    assert effective_voices(similarity_matrix(means)) == pytest.approx(expected, abs=0.01)


def test_effective_voices_of_nothing_is_zero() -> None:
    assert effective_voices(np.zeros((0, 0))) == 0.0


def test_voice_means_normalize_and_same_sounding_pairs() -> None:
    names, means = voice_means(
        {"b": [_unit([1, 0.1, 0]), _unit([1, -0.1, 0])], "a": [_unit([1, 0, 0])], "c": [_unit([0, 1, 0])], "d": []}
    )
    assert names == ["a", "b", "c"]  # sorted; a voice with no clip is left out
    assert np.allclose(np.linalg.norm(means, axis=1), 1.0)
    pairs = same_sounding(names, similarity_matrix(means), threshold=0.9)
    assert [(p["a"], p["b"]) for p in pairs] == [("a", "b")]
    assert map_2d(means).shape == (3, 2) and map_2d(means[:1]).shape == (1, 2)


TEXTS = ["Which shape in the picture is the largest one?", "How many red circles can you count here?"]


def _embeddings(backend: object, voice: Voice) -> list[np.ndarray]:
    audios = backend.synthesize(TEXTS, [voice] * len(TEXTS))  # type: ignore[attr-defined]
    return [SpeakerEncoder.embed(a.array, a.sampling_rate) for a in audios]


@pytest.mark.embedded
def test_real_voices_same_speaker_at_two_speeds_is_flagged_and_different_speakers_are_not() -> None:
    pytest.importorskip("resemblyzer")
    pytest.importorskip("piper")
    from datagen.backends.flite import FliteSynthesizer
    from datagen.backends.piper import PiperSynthesizer

    if FliteSynthesizer.unavailable_reason():
        pytest.skip("flite is not installed")
    piper, flite = PiperSynthesizer(), FliteSynthesizer()
    piper.setup()
    flite.setup()
    names, means = voice_means(
        {
            "piper:joe": _embeddings(piper, Voice(engine="piper", name="joe")),
            "piper:joe-fast": _embeddings(piper, Voice(engine="piper", name="joe", speed=1.3)),
            "flite:slt": _embeddings(flite, Voice(engine="flite", name="slt")),
            "flite:awb": _embeddings(flite, Voice(engine="flite", name="awb")),
        }
    )
    similarity = similarity_matrix(means)
    pairs = {(p["a"], p["b"]) for p in same_sounding(names, similarity)}
    assert pairs == {("piper:joe", "piper:joe-fast")}
    index = {name: i for i, name in enumerate(names)}

    def effective(*voices: str) -> float:
        rows = [index[v] for v in voices]
        return effective_voices(similarity[np.ix_(rows, rows)])

    assert effective("piper:joe", "piper:joe-fast") < 1.1  # one speaker at two speeds
    assert effective("piper:joe", "flite:slt", "flite:awb") > effective("piper:joe", "piper:joe-fast") + 0.5


@pytest.mark.parametrize("wave", [np.zeros(0), np.full(100, np.nan), np.zeros(800)], ids=["empty", "nan", "short"])
def test_nothing_to_embed_is_none(wave: np.ndarray) -> None:
    pytest.importorskip("resemblyzer")
    assert SpeakerEncoder.embed(wave.astype(np.float32), 16000) is None


@pytest.mark.embedded
def test_audit_has_a_voice_diversity_section(tmp_path: Path) -> None:
    """Real speech (piper + Whisper): the fake engine's tones hold no speech for a speaker encoder."""
    pytest.importorskip("resemblyzer")
    pytest.importorskip("piper")
    from datagen.audit import build_audit, write_report
    from datagen.backends.flite import FliteSynthesizer
    from datagen.manifest import load_manifest
    from datagen.run import run
    from datagen.testing import embedded_manifest, write_manifest, write_swift_dataset

    data = write_swift_dataset(tmp_path / "data", n=6)
    spec = embedded_manifest(data, tmp_path / "out")
    if not FliteSynthesizer.unavailable_reason():  # a second engine's voice: two voices to compare and map
        spec["backends"]["flite"] = {"engine": "flite"}
        spec["steps"][0]["voices"].append({"tts": "flite", "voice": "awb"})
    run(load_manifest(write_manifest(tmp_path / "m.yaml", spec)))
    section = build_audit(tmp_path / "out").report["voice_diversity"]
    assert section is not None
    assert sum(section["clips"].values()) >= 1
    n = len(section["voices"])
    assert np.asarray(section["similarity"]).shape == (n, n)
    html = write_report(tmp_path / "out", tmp_path / "report").read_text()
    assert 'id="voice-diversity"' in html and "effective distinct voices" in html
    if CHROMIUM and len(section["voices"]) > 1:  # the section renders in a real browser: the map and the matrix
        from PIL import Image, ImageStat

        page = section_page(html, "voice-diversity", tmp_path)
        with Image.open(screenshot(tmp_path, page.resolve().as_uri(), "voices.png")) as im:
            assert ImageStat.Stat(im.convert("L")).stddev[0] > 8  # a blank page is 0; this one is mostly white
        assert 'alt="voice map"' in page.read_text()
    assert build_audit(tmp_path / "out", voice_clips=0).report["voice_diversity"] is None
