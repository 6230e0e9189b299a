"""spoken_style on the embedded SmolLM2-135M-Instruct: three queries, one batched call, only faithful rewrites used.

The 135M model mostly repeats the query, repeats the instructions or answers it: this test asks no yield, only
that whatever it wrote is judged, that a used rewrite is faithful and that tags and answers stay as they were.
"""

from __future__ import annotations

from typing import Any

import pytest

from datagen.records import Message, Sample
from filters.rewrite_faithfulness import score_rewrite, unfaithful_reason

pytestmark = [pytest.mark.embedded, pytest.mark.slow]

QUERIES = [
    "<image>**Describe** the image in 2 sentences.",
    "<image>Can you count the green diamonds in this image?",
    "Dr. Patel bought 3 apples for $2.50. How much did each cost?",
]


def test_smollm2_rewrites_are_judged_and_only_faithful_ones_used(capsys: pytest.CaptureFixture[str]) -> None:
    from datagen.backends.hf_lm import HFCausalLM, HFLMSettings
    from datagen.generators.spoken_style import SpokenStyle, SpokenStyleConfig

    if reason := HFCausalLM.unavailable_reason():
        pytest.skip(f"hf_lm unavailable: {reason}")
    calls: list[int] = []

    class Counting(HFCausalLM):
        def generate(self, conversations: list[Any], n: int = 1, sampling: Any = None) -> list[Any]:
            calls.append(len(conversations))
            return super().generate(conversations, n, sampling)

    step = SpokenStyle(SpokenStyleConfig(generator="lm", max_new_tokens=48))
    step.setup({"lm": Counting(HFLMSettings(batch_size=4))})
    batch = [Sample(f"q{i}", (Message("user", q), Message("assistant", f"Answer {i}."))) for i, q in enumerate(QUERIES)]
    out = step.process(batch)
    assert calls == [3]
    assert [o.id for o in out] == ["q0", "q1", "q2"] and all(isinstance(o, Sample) for o in out)
    for written, sample in zip(QUERIES, out, strict=True):
        style, new = sample.meta["spoken_style"], sample.messages[0].content
        with capsys.disabled():  # the rewrites, for a human reading `pytest -s`
            print(f"\n{written!r} -> {new!r} [{style['status']}: {style['reason']}]")
        assert sample.meta["written_query"] == written and sample.messages[1] == Message(
            "assistant", f"Answer {sample.id[1]}."
        )
        assert style["generator"].startswith("hf_lm:SmolLM2") and style["prompt"].startswith("spoken_style@v1:")
        assert new.startswith("<image>") == written.startswith("<image>") and new.count("<image>") == written.count(
            "<image>"
        )
        if style["status"] == "rewritten":
            assert (
                new != written
                and unfaithful_reason(score_rewrite(written.removeprefix("<image>"), new.removeprefix("<image>"))) == ""
            )
        else:
            assert style["status"] in {"unchanged", "kept_original"} and new == written
            assert (style["reason"] == "") == (style["status"] == "unchanged")
