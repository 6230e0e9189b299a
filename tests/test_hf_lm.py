"""Local causal-LM generator: a tiny random Llama through the real loading path, and the embedded SmolLM2 (slow)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datagen.backends.base import BackendError, ChatTurn, Sampling
from datagen.backends.hf_lm import HFCausalLM, HFLMSettings, cache_root
from datagen.records import Image
from datagen.testing import tiny_png
from datagen.tiny_models import build_tiny_llama

GREEDY = Sampling(max_new_tokens=8)
CONVS = [
    [ChatTurn("user", "How many red circles are there?")],
    [ChatTurn("system", "Answer briefly."), ChatTurn("user", "Describe a triangle in one sentence, please.")],
    [ChatTurn("user", "Hi")],
]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Toy-sized matmuls: a second thread only adds sync cost (4x slower on a busy 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("llama") / "tiny-llama")


@pytest.fixture(scope="session")
def lm(tiny_llama: Path) -> HFCausalLM:
    backend = HFCausalLM(HFLMSettings(model=str(tiny_llama), batch_size=4))
    backend.setup()
    return backend


def test_generates_n_strings_per_conversation_batched_equal_to_one_by_one(lm: HFCausalLM, tiny_llama: Path) -> None:
    out = lm.generate(CONVS, n=2, sampling=GREEDY)
    assert [len(r) for r in out if r is not None] == [2, 2, 2]
    assert all(isinstance(t, str) for r in out if r for t in r)
    one = HFCausalLM(HFLMSettings(model=str(tiny_llama), batch_size=1))
    alone = [one.generate([c], sampling=GREEDY)[0] for c in CONVS]
    assert [r[:1] for r in out if r] == alone
    assert len({r[0] for r in out if r}) > 1


def test_seeded_sampling_is_reproducible(lm: HFCausalLM) -> None:
    hot = Sampling(temperature=1.0, top_p=0.9, max_new_tokens=8, seed=5)
    first = lm.generate(CONVS, n=3, sampling=hot)
    assert first == lm.generate(CONVS, n=3, sampling=hot)
    assert any(r is not None and len(set(r)) > 1 for r in first)
    assert first != lm.generate(CONVS, n=3, sampling=Sampling(temperature=1.0, top_p=0.9, max_new_tokens=8, seed=6))


def test_media_or_empty_conversations_are_none_and_others_succeed(lm: HFCausalLM) -> None:
    expected = lm.generate(CONVS[:2], sampling=GREEDY)
    out = lm.generate(
        [[ChatTurn("user", "<image>what?", images=(Image(tiny_png()),))], CONVS[0], [], CONVS[1]], sampling=GREEDY
    )
    assert out == [None, expected[0], None, expected[1]]


def test_uses_the_tokenizers_chat_template(lm: HFCausalLM) -> None:
    ids = lm._render(CONVS[1])
    text = lm._tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nAnswer briefly.<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")


def test_load_errors_name_the_fix(tmp_path: Path, tiny_llama: Path) -> None:
    with pytest.raises(BackendError, match="no transformers model"):
        HFCausalLM(HFLMSettings(model=str(tmp_path))).setup()
    no_template = tmp_path / "no-template"
    build_tiny_llama(no_template)
    config = json.loads((no_template / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (no_template / "tokenizer_config.json").write_text(json.dumps(config))
    (no_template / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(BackendError, match="no chat template"):
        HFCausalLM(HFLMSettings(model=str(no_template))).setup()


def test_cache_root_prefers_setting_then_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAGEN_CACHE", str(tmp_path / "env"))
    assert cache_root(None) == tmp_path / "env"
    assert cache_root(str(tmp_path / "set")) == tmp_path / "set"
    monkeypatch.delenv("DATAGEN_CACHE")
    assert cache_root(None) == Path.home() / ".cache" / "datagen"


@pytest.mark.slow
@pytest.mark.embedded
def test_embedded_smollm2_converts_once_and_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = HFLMSettings(cache_dir=str(tmp_path / "cache"), max_new_tokens=24)
    lm = HFCausalLM(settings)
    out = lm.generate([[ChatTurn("user", "What is the capital of France?")]], sampling=Sampling(max_new_tokens=16))
    assert out[0] is not None
    answer = out[0][0]
    assert len(re.findall(r"[A-Za-z]+", answer)) >= 3 and "Paris" in answer
    converted = [p for p in (tmp_path / "cache").iterdir()]
    assert len(converted) == 1 and (converted[0] / "model.safetensors").is_file()  # no temp dir left behind
    assert "SmolLM2" in lm.describe()["model"] and lm.describe()["model_path"] == str(converted[0])

    import transformers

    real = transformers.AutoModelForCausalLM.from_pretrained

    def no_gguf(*args: Any, **kwargs: Any) -> Any:
        assert "gguf_file" not in kwargs, "the cached conversion was not reused"
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_gguf)
    again = HFCausalLM(settings)
    assert (
        again.generate([[ChatTurn("user", "What is the capital of France?")]], sampling=Sampling(max_new_tokens=16))
        == out
    )
