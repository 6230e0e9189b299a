"""The scripted fake TextGenerator that drives generator unit tests must itself behave like a sampler."""

from __future__ import annotations

import pickle

import pytest

from datagen.backends.base import ChatTurn, Completion, Sampling, TextGenerator, finish_reason_of
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


@pytest.mark.parametrize(
    ("cut", "max_new_tokens", "reply", "text", "reason"),
    [
        (False, 3, "one two three four", "one two three four", "stop"),  # not scripted to cut: never cut
        (True, 4, "one two three four", "one two three four", "stop"),  # exactly the limit: it ended
        (True, 3, "one two three four", "one two three", "length"),  # cut at max_new_tokens
        (True, 1, "", "", "stop"),  # empty
        (True, 2, "  spaced   out words  ", "spaced out", "length"),  # words count, spacing does not
    ],
)
def test_finish_reason_is_scriptable(cut: bool, max_new_tokens: int, reply: str, text: str, reason: str) -> None:
    llm = _llm(default=[reply], cut_at_max_new_tokens=cut)
    ((out,),) = llm.generate([_conv("q")], sampling=Sampling(max_new_tokens=max_new_tokens))
    assert out == text and finish_reason_of(out) == reason
    assert isinstance(out, str) and out.text == text  # a str to every caller that wants only the text


def test_completion_keeps_its_finish_reason_through_pickle_and_loses_it_when_edited() -> None:
    done = Completion("The answer is 8.", "length")
    again = pickle.loads(pickle.dumps(done))
    assert again == "The answer is 8." and finish_reason_of(again) == "length"
    assert finish_reason_of(done.strip()) is None and type(done.strip()) is str  # an edited text is a new text
    assert [finish_reason_of(x) for x in ("plain", None, 42, Completion("x"))] == [None, None, None, None]
