"""The extra TTS engines: coqui-tts through its real loading path (random-weight VITS), and the embedded engines
(piper, Kokoro, flite, espeak-ng) checked for intelligibility by a Whisper tiny.en round trip.

Round-trip WER bounds follow OFFLINE_MODELS.md (20 sentences there, 3 here), with margin for the smaller sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from datagen.backends.base import BackendError, Voice
from filters.wer import wer

# -- coqui-tts, offline: a random-weight multi-speaker VITS saved as a local model folder --

SPEAKERS = ["alice", "bob"]


def build_random_vits(folder: Path) -> Path:
    """A small two-speaker VITS (characters, no phonemizer) with random weights, saved the way coqui saves one."""
    import torch
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    args = VitsArgs(
        hidden_channels=32,
        hidden_channels_ffn_text_encoder=64,
        num_heads_text_encoder=2,
        num_layers_text_encoder=2,
        upsample_initial_channel_decoder=64,
        num_layers_flow=2,
        num_layers_posterior_encoder=2,
        use_speaker_embedding=True,
        speaker_embedding_channels=16,
        init_discriminator=False,
    )
    config = VitsConfig(use_phonemes=False, text_cleaner="english_cleaners", model_args=args, speakers=SPEAKERS)
    torch.manual_seed(0)
    model = Vits.init_from_config(config)  # builds the tokenizer and speaker manager from the config
    folder.mkdir(parents=True, exist_ok=True)
    config.save_json(str(folder / "config.json"))
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    return folder


@pytest.fixture(scope="module")
def coqui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from datagen.backends.coqui import CoquiSettings, CoquiSynthesizer

    reason = CoquiSynthesizer.unavailable_reason()
    if reason:
        pytest.skip(reason)
    folder = build_random_vits(tmp_path_factory.mktemp("vits") / "model")
    backend = CoquiSynthesizer(CoquiSettings(model=str(folder)), name="coqui")
    backend.setup()
    yield backend
    backend.teardown()


def _cv(name: str = "", speed: float = 1.0, seed: int = 0) -> Voice:
    return Voice(engine="coqui", name=name, speed=speed, seed=seed)


def test_coqui_loads_a_local_folder_with_its_speakers(coqui: object) -> None:
    assert coqui.voices() == SPEAKERS
    info = coqui.describe()
    assert info["engine"] == "coqui" and info["model_type"] == "vits" and info["model_path"].endswith("model.pth")


def test_coqui_synthesizes_deterministically_per_seed(coqui: object) -> None:
    text = "Hello there, how are you?"
    a, b, c, d = coqui.synthesize([text] * 4, [_cv("alice"), _cv("alice", seed=1), _cv("alice"), _cv("bob")])
    for audio in (a, b, c, d):
        assert audio is not None and audio.sampling_rate == 22050
        assert audio.array.dtype == np.float32 and audio.array.ndim == 1 and audio.duration > 0.1
        assert np.isfinite(audio.array).all() and np.abs(audio.array).max() <= 1.0
    assert np.array_equal(a.array, c.array)  # same seed, same audio, whatever ran in between
    assert not np.array_equal(a.array, b.array)  # VITS noise follows the seed
    assert a.array.shape != d.array.shape or not np.allclose(a.array, d.array)  # the speaker changes the output
    (again,) = coqui.synthesize([text], [_cv("", seed=0)])  # "" = the first speaker
    assert again is not None and np.array_equal(again.array, a.array)


@pytest.mark.slow
def test_coqui_speed_changes_the_length(coqui: object) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    slow, fast = coqui.synthesize([text, text], [_cv("bob", speed=0.5, seed=3), _cv("bob", speed=2.0, seed=3)])
    assert slow is not None and fast is not None
    assert fast.duration < 0.6 * slow.duration


def test_coqui_bad_items_fail_alone(coqui: object) -> None:
    out = coqui.synthesize(["Fine.", "Fine.", "", "Fine."], [_cv("alice"), _cv("carol"), _cv("bob"), _cv("bob")])
    assert out[0] is not None and out[3] is not None and out[1] is None and out[2] is None


def test_coqui_refuses_a_hub_name_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datagen.backends.coqui import CoquiSettings, CoquiSynthesizer

    if CoquiSynthesizer.unavailable_reason():
        pytest.skip(CoquiSynthesizer.unavailable_reason())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # an empty coqui cache
    monkeypatch.setenv("TTS_HOME", str(tmp_path))
    backend = CoquiSynthesizer(CoquiSettings(model="tts_models/en/vctk/vits"))
    with pytest.raises(BackendError, match="would be downloaded"):
        backend.setup()
    with pytest.raises(ValueError, match="exactly one"):
        CoquiSettings()


# -- round trip: each embedded engine's speech transcribed by Whisper tiny.en --

SENTENCES = [
    "How many red circles are in the picture?",
    "Please describe the color of the large square.",
    "Is the blue triangle on the left side of the image?",
]
# (engine, voices, settings, mean WER bound). OFFLINE_MODELS.md on 20 sentences: piper 0.038, Kokoro 0.049,
# flite 0.087, espeak-ng 0.19-0.22; bounds leave margin for 3 short sentences (one wrong word is ~0.11).
ENGINES = [
    ("piper", ["joe"], {}, 0.15),
    ("kokoro", ["jf_alpha"], {}, 0.2),
    ("flite", ["slt", "rms", "awb", "kal16"], {}, 0.3),
    ("espeak", ["en-us"], {}, 0.4),
]


@pytest.fixture(scope="module")
def whisper() -> Iterator[object]:
    from datagen.backends.faster_whisper import FasterWhisperTranscriber

    if FasterWhisperTranscriber.unavailable_reason():
        pytest.skip(FasterWhisperTranscriber.unavailable_reason())
    backend = FasterWhisperTranscriber()
    backend.setup()
    yield backend
    backend.teardown()


@pytest.mark.embedded
@pytest.mark.parametrize(
    ("engine", "voice", "settings", "bound"),
    [
        pytest.param(e, v, s, b, id=f"{e}-{v}", marks=[pytest.mark.slow] if e == "kokoro" else [])
        for e, vs, s, b in ENGINES
        for v in vs
    ],
)
def test_round_trip_wer(engine: str, voice: str, settings: dict, bound: float, whisper: object) -> None:
    from datagen import registry

    cls = registry.backend_class(engine)
    reason = cls.unavailable_reason()
    if reason:
        pytest.skip(f"{engine}: {reason}")
    tts = cls(cls.Settings(**settings))
    assert voice in tts.voices()
    audios = tts.synthesize(SENTENCES, [Voice(engine=engine, name=voice, seed=i) for i in range(len(SENTENCES))])
    assert all(a is not None and a.duration > 0.5 for a in audios)
    transcripts = whisper.transcribe(audios)
    scores = [wer(ref, hyp) for ref, hyp in zip(SENTENCES, transcripts, strict=True)]
    assert np.mean(scores) <= bound, list(zip(SENTENCES, transcripts, scores, strict=True))
    tts.teardown()
