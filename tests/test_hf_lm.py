"""Local causal-LM generator: a tiny random Llama through the real loading path, and the embedded SmolLM2 (slow)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datagen.backends.base import BackendError, ChatTurn, Sampling, finish_reason_of
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


def test_finish_reason_length_when_cut_at_max_new_tokens_stop_when_the_model_ends(tiny_llama: Path) -> None:
    import torch

    lm = HFCausalLM(HFLMSettings(model=str(tiny_llama), batch_size=4))  # its own copy: the test moves the eos
    cut = lm.generate(CONVS, sampling=GREEDY)
    assert [finish_reason_of(r[0]) for r in cut if r] == ["length"] * 3  # random weights never say eos in 8 tokens
    with torch.inference_mode():
        first = int(lm._model(torch.tensor([lm._render(CONVS[0])])).logits[0, -1].argmax())
    lm._model.generation_config.eos_token_id = [first]  # the token it says first now ends the reply
    ended = lm.generate(CONVS[:1], n=2, sampling=GREEDY)[0]
    assert ended is not None and [finish_reason_of(t) for t in ended] == ["stop", "stop"]
    assert len(ended[0]) < len(cut[0][0])


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


COMPLETIONS = ["Three red circles.", "A triangle has three sides.", "Hello there"]


def test_score_is_the_mean_completion_log_prob_whatever_the_batch(lm: HFCausalLM, tiny_llama: Path) -> None:
    import torch

    batched = lm.score(CONVS, COMPLETIONS)
    one = HFCausalLM(HFLMSettings(model=str(tiny_llama), batch_size=1))
    alone = [one.score([c], [t])[0] for c, t in zip(CONVS, COMPLETIONS, strict=True)]
    assert batched == pytest.approx(alone, abs=1e-4)  # left padding + position ids change nothing
    prompt = lm._render(CONVS[1])
    completion = lm._tokenizer(COMPLETIONS[1], add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = lm._model(input_ids=torch.tensor([prompt + completion])).logits.float()
    logp = torch.log_softmax(logits[0, :-1], dim=-1)
    by_hand = logp[torch.arange(len(prompt) - 1, len(prompt) + len(completion) - 1), torch.tensor(completion)].mean()
    assert batched[1] == pytest.approx(float(by_hand), abs=1e-4)
    assert all(s is not None and s < 0 for s in batched)


def test_score_failures_are_none_without_sinking_the_batch(lm: HFCausalLM) -> None:
    with_image = [ChatTurn("user", "What is this?", images=(Image(tiny_png()),))]
    out = lm.score([CONVS[0], with_image, CONVS[2]], [COMPLETIONS[0], "A square.", ""])
    assert out[0] == pytest.approx(lm.score([CONVS[0]], [COMPLETIONS[0]])[0], abs=1e-4)
    assert out[1] is None and out[2] is None


def test_dpo_hardest_negative_ranks_wrong_traces_by_hf_lm_likelihood(lm: HFCausalLM) -> None:
    """Scripted traces (a random model never verifies), scored by the real hf_lm: the most likely wrong one loses."""
    from datagen.generators.dpo import DpoConfig, DpoPairs
    from datagen.records import Message, Sample

    right = "3 + 5 = 8. The answer is 8."
    wrong = ["3 * 5 = 15. The answer is 15.", "I think it is 2. The answer is 2.", "Maybe 1 in all. The answer is 1."]

    class ScriptedHF:  # replies from a script, scores with the real model
        engine = "scripted"
        score = staticmethod(lm.score)

        def describe(self) -> dict[str, Any]:
            return {"engine": self.engine}

        def generate(self, conversations: list[Any], n: int = 1, sampling: Any = None) -> list[Any]:
            return [[right, *wrong][:n] for _ in conversations]

    question = Message("user", "Tom has 3 apples and buys 5 more. How many?")
    sample = Sample(id="p", messages=(question, Message("assistant", "#### 8")), meta={"source_index": 0})
    step = DpoPairs(DpoConfig(generator="lm", n=4, round_size=4, pairs_per_problem=1), seed=1)
    step.setup({"lm": ScriptedHF()})
    (rec,) = step.process([sample])
    from datagen.ledger import Ledger

    conversation = step.sampler().conversation(step.problems([sample], Ledger())[0])
    scores = lm.score([conversation] * len(wrong), wrong)
    assert rec.meta["pairing"] == "hardest_negative:likelihood"
    assert rec.meta["rejected"] == wrong[max(range(len(wrong)), key=lambda i: scores[i])]
    assert rec.meta["rejected_score"] == pytest.approx(max(scores), abs=1e-4)
