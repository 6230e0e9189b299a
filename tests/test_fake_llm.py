"""The scripted fake TextGenerator that drives generator unit tests must itself behave like a sampler."""

from __future__ import annotations

from datagen.backends.base import ChatTurn, Sampling, TextGenerator
from datagen.backends.fake import FakeLLMSettings, FakeTextGenerator


def _llm(**settings: object) -> FakeTextGenerator:
    return FakeTextGenerator(FakeLLMSettings(**settings))


def _conv(text: str) -> list[ChatTurn]:
    return [ChatTurn("system", "be brief"), ChatTurn("user", text)]


def test_is_a_text_generator() -> None:
    assert isinstance(_llm(), TextGenerator)


def test_greedy_gives_the_first_reply_n_times() -> None:
    llm = _llm(responses={"2+2": ["4", "5"]})
    assert llm.generate([_conv("what is 2+2?")], n=3) == [["4", "4", "4"]]


def test_sampling_is_seeded_and_varies_with_the_seed() -> None:
    llm = _llm(responses={"q": [f"r{i}" for i in range(10)]})
    hot = Sampling(temperature=1.0, seed=1)
    first = llm.generate([_conv("q")], n=8, sampling=hot)
    assert first == llm.generate([_conv("q")], n=8, sampling=hot)
    assert len(set(first[0])) > 1
    assert first != llm.generate([_conv("q")], n=8, sampling=Sampling(temperature=1.0, seed=2))


def test_prompt_placeholder_default_and_failure() -> None:
    llm = _llm(responses={"echo": ["you said: {prompt}"]}, default=["?"], fail_on=["boom"])
    out = llm.generate([_conv("echo me"), _conv("other"), _conv("boom")])
    assert out == [["you said: echo me"], ["?"], None]
