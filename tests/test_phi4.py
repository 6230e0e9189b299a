"""Phi-4-multimodal backend on a tiny random model, loaded through the same `from_pretrained` path as the real one.

Outputs are garbage text; what is asserted is the plumbing: shapes, order, batching equivalence under greedy
decoding, seeded determinism, bad items isolated, media tags mapped, and the vision→speech run with Phi-4 as ASR.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from datagen.backends.base import BackendError, ChatTurn, Sampling, finish_reason_of
from datagen.backends.hf_batching import plan_batches, resolve_device, resolve_dtype
from datagen.backends.phi4 import AUDIO_TOKEN, IMAGE_TOKEN, Phi4Backend, Phi4Settings, place_media, render_chat
from datagen.manifest import load_manifest
from datagen.records import Audio, Image
from datagen.run import run
from datagen.testing import REPO, fake_manifest, tiny_png, write_manifest, write_swift_dataset
from datagen.tiny_models import build_tiny_phi4

GREEDY = Sampling(max_new_tokens=6)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Toy-sized matmuls: a second thread only adds sync cost (4x slower on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_phi4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_phi4(tmp_path_factory.mktemp("phi4") / "tiny-phi4")


@pytest.fixture(scope="session")
def phi4(tiny_phi4: Path) -> Phi4Backend:
    backend = Phi4Backend(Phi4Settings(model=str(tiny_phi4), revision=None, batch_size=4, max_new_tokens=6))
    backend.setup()
    return backend


def _tone(rate: int = 16000, seconds: float = 0.6, freq: float = 440.0) -> Audio:
    t = np.arange(int(rate * seconds)) / rate
    return Audio(array=(0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sampling_rate=rate)


def _mixed() -> list[list[ChatTurn]]:
    img = Image(tiny_png((200, 30, 30), size=40))
    return [
        [ChatTurn("user", "<image>How many red circles are there?", images=(img,))],
        [ChatTurn("system", "Answer briefly."), ChatTurn("user", "Describe a triangle.")],
        [ChatTurn("user", "What is said here? <audio>", audios=(_tone(22050),))],
        [ChatTurn("user", "Hi")],
        [ChatTurn("user", "Two pictures: <image> and <image>", images=(img, Image(tiny_png((0, 0, 200)))))],
    ]


def test_mixed_batch_returns_n_strings_per_conversation_in_order(phi4: Phi4Backend) -> None:
    convs = _mixed()
    out = phi4.generate(convs, n=2, sampling=GREEDY)
    assert len(out) == len(convs)
    for texts in out:
        assert isinstance(texts, list) and len(texts) == 2 and all(isinstance(t, str) for t in texts)
        assert texts[0] == texts[1]  # greedy: both samples are the same decode
    assert {finish_reason_of(t) for texts in out for t in texts} == {"length"}  # random weights: cut at 6 tokens
    single = phi4.generate([convs[3]], n=1, sampling=GREEDY)
    assert single == [[out[3][0]]]  # order kept although the batch was sorted by length


def test_batched_equals_one_by_one_under_greedy(phi4: Phi4Backend, tiny_phi4: Path) -> None:
    convs = _mixed()
    batched = phi4.generate(convs, n=1, sampling=GREEDY)
    one = Phi4Backend(Phi4Settings(model=str(tiny_phi4), revision=None, batch_size=1))
    alone = [one.generate([c], n=1, sampling=GREEDY)[0] for c in convs]
    assert batched == alone
    assert len({t[0] for t in batched}) > 1  # different inputs give different outputs: the media reached the model


def test_sampling_is_deterministic_under_a_seed(phi4: Phi4Backend) -> None:
    convs = _mixed()[:4]
    hot = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=6, seed=11)
    first = phi4.generate(convs, n=3, sampling=hot)
    assert first == phi4.generate(convs, n=3, sampling=hot)
    assert all(r is not None and len(r) == 3 for r in first)
    assert any(len(set(r)) > 1 for r in first if r)  # the n samples are distinct draws
    other = phi4.generate(convs, n=3, sampling=Sampling(temperature=1.0, top_p=0.95, max_new_tokens=6, seed=12))
    assert other != first
    greedy = phi4.generate(convs, n=1, sampling=GREEDY)
    assert greedy == phi4.generate(convs, n=1, sampling=GREEDY)


def test_bad_items_are_none_and_the_rest_succeed(phi4: Phi4Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _mixed()[:4]
    bad = [
        [ChatTurn("user", "<image>Broken?", images=(Image(b"not an image"),))],
        [ChatTurn("user", "<image><image> tags without images", images=(Image(tiny_png()),))],
        [ChatTurn("user", "silence <audio>", audios=(Audio(np.zeros(0, np.float32), 16000),))],
        [ChatTurn("user", "nan <audio>", audios=(Audio(np.full(8000, np.nan, np.float32), 16000),))],
        [ChatTurn("robot", "unknown role")],
    ]
    expected = phi4.generate(good, sampling=GREEDY)
    out = phi4.generate([bad[0], good[0], bad[1], good[1], bad[2], good[2], bad[3], good[3], bad[4]], sampling=GREEDY)
    assert out[0::2] == [None] * 5
    assert out[1::2] == expected[:4]

    # A failure inside generation (not preparation) sinks only its own item: the batch is retried one by one.
    real = phi4._generate_batch

    def flaky(batch: list[Any], sampling: Sampling) -> list[str]:
        if any("Hi" in p.text for p in batch):
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(batch, sampling)

    monkeypatch.setattr(phi4, "_generate_batch", flaky)
    out = phi4.generate(good, sampling=GREEDY)
    assert out[3] is None
    assert [o for i, o in enumerate(out) if i != 3] == [o for i, o in enumerate(expected) if i != 3]


def test_transcribe_resamples_and_isolates_bad_audio(phi4: Phi4Backend) -> None:
    clip16 = _tone(16000)
    clip22 = Audio(clip16.resampled(22050).array, 22050)
    out = phi4.transcribe([clip16, Audio(np.zeros(10, np.float32), 16000), clip22, _tone(freq=220.0)])
    assert out[1] is None
    assert all(isinstance(t, str) for i, t in enumerate(out) if i != 1)
    assert out == phi4.transcribe([clip16, Audio(np.zeros(10, np.float32), 16000), clip22, _tone(freq=220.0)])
    assert phi4.transcribe([]) == []


def test_tags_map_to_phi4_tokens_and_untagged_media_go_first() -> None:
    assert place_media("<image>What is it?", 1, 0) == f"{IMAGE_TOKEN}What is it?"
    assert place_media("Compare <image> with <image>", 2, 0) == f"Compare {IMAGE_TOKEN} with {IMAGE_TOKEN}"
    assert place_media("What is it?", 2, 1) == f"{IMAGE_TOKEN}{IMAGE_TOKEN}{AUDIO_TOKEN}What is it?"
    assert place_media("Say <audio>; see", 1, 1) == f"{IMAGE_TOKEN}Say {AUDIO_TOKEN}; see"
    with pytest.raises(ValueError, match="2 <image> tag"):
        place_media("<image><image>", 1, 0)
    chat = render_chat([ChatTurn("system", "Be brief."), ChatTurn("user", "<audio>", audios=(_tone(),))])
    assert chat == f"<|system|>Be brief.<|end|><|user|>{AUDIO_TOKEN}<|end|><|assistant|>"


def test_device_and_dtype_resolution() -> None:
    assert resolve_device("auto", cuda_available=False) == "cpu"
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("cuda:1", cuda_available=True) == "cuda:1"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda", cuda_available=False)
    assert resolve_dtype("auto", "cpu", bf16_supported=False) == "float32"
    assert resolve_dtype("auto", "cuda", bf16_supported=True) == "bfloat16"
    assert resolve_dtype("auto", "cuda:0", bf16_supported=False) == "float16"
    assert resolve_dtype("float16", "cpu", bf16_supported=False) == "float16"


def test_batches_are_length_sorted_and_never_mix_groups() -> None:
    assert plan_batches([5, 1, 4, 2, 3], 2) == [[1, 3], [4, 2], [0]]
    assert plan_batches([5, 1, 4, 2], 4, groups=["img", "txt", "img", "txt"]) == [[2, 0], [1, 3]]


def test_describe_and_load_errors(phi4: Phi4Backend, tmp_path: Path) -> None:
    info = phi4.describe()
    assert info["engine"] == "phi4" and info["model"] == phi4.settings.model
    assert info["dtype"] == "float32" and info["device"] == "cpu" and info["revision"] is None
    assert Phi4Backend.unavailable_reason() is None
    with pytest.raises(BackendError, match="cannot load"):
        Phi4Backend(Phi4Settings(model=str(tmp_path / "missing"), revision=None)).setup()
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="CUDA is not available"):
            Phi4Backend(Phi4Settings(model=str(tmp_path), device="cuda")).setup()
    with pytest.raises(ValueError, match="exactly one"):
        Phi4Settings(asr_prompt="<|user|>Transcribe.<|end|><|assistant|>")


def test_vision_speech_run_with_phi4_as_verifier(tiny_phi4: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    data = write_swift_dataset(tmp_path / "data", n=3)
    asr = {"engine": "phi4", "model": str(tiny_phi4), "revision": None, "max_new_tokens": 4}
    manifest = fake_manifest(data, tmp_path / "out", shard_size=2, asr=asr, max_wer=1e9)
    stats = run(load_manifest(write_manifest(tmp_path / "m.yaml", manifest)))
    assert stats["kept"] == 3
    ds = load_dataset(str(tmp_path / "out"))["train"]
    for row in ds:
        speech = row["speech"][0]
        assert speech["asr"] == f"phi4:{tiny_phi4}"
        assert isinstance(speech["transcript"], str) and speech["wer"] == row["wer"]


def test_shipped_phi4_manifest_validates_and_runs_on_the_tiny_model(tiny_phi4: Path, tmp_path: Path) -> None:
    path = REPO / "manifests" / "vision_speech_phi4.yaml"
    shipped = load_manifest(path)
    spec = shipped.backends["phi4"]
    assert (spec.engine, spec.model, spec.revision) == ("phi4", "microsoft/Phi-4-multimodal-instruct", "refs/pr/70")
    assert shipped.steps[0].asr == "phi4"
    overrides = {
        "backends.phi4.model": str(tiny_phi4),
        "backends.phi4.revision": None,
        "backends.phi4.max_new_tokens": 4,
        "input.limit": 2,
        "output.path": str(tmp_path / "out"),
        "output.exports": [],
    }
    stats = run(load_manifest(path, overrides))
    assert stats["seen"] == 2
    rejects = pq.read_table(sorted((tmp_path / "out" / "rejects").glob("*.parquet"))).to_pylist()
    assert stats["kept"] + len(rejects) == 2
    # random weights do not transcribe: the WER gate rejects, with the Phi-4 verdict recorded
    assert [r["reason"] for r in rejects] == ["wer_above_max"] * 2
    assert [json.loads(r["meta"])["speech"][0]["asr"] for r in rejects] == [f"phi4:{tiny_phi4}"] * 2
