"""What cot and dpo decide about every trace: finish reasons, trace_check inside the generators, the per-trace
verdicts every record carries, and majority-vote labels for problems without a reference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sampling_fixtures import RIGHT, WRONG, Scripted, problem

from datagen.backends.base import Completion
from datagen.backends.fake import FakeLLMSettings, FakeTextGenerator
from datagen.generators.cot import ChainOfThought, CotConfig
from datagen.generators.dpo import DpoConfig, DpoPairs
from datagen.generators.trace_verdicts import group_answers, majority_vote
from datagen.records import Message, Rejected, Sample

CUT = Completion("Tom has 3 apples and buys 5 more, so 3 + 5 = 8. The answer is 8.", "length")  # reads finished
TWO_ANSWERS = "The answer is 8. No, the answer is 8 + 1 = 10. The answer is 8."
BAD_STEP = "Tom has 3 apples and buys 5, so 3 + 5 = 9, minus one is 8. The answer is 8."
LOOP = "Tom has 3 apples. " * 4 + "The answer is 8."


def run(step_cls: type, config_cls: type, lm: Any, batch: Sequence[Sample], **config: Any) -> tuple[list, dict]:
    step = step_cls(config_cls(generator="lm", **config), seed=5)
    step.setup({"lm": lm})
    out = step.process(list(batch))
    kept = [r for r in out if isinstance(r, Sample)]
    return out, step.stats_for_shard(kept, [r for r in out if isinstance(r, Rejected)])


def cot(lm: Any, batch: Sequence[Sample], **config: Any) -> tuple[list, dict]:
    return run(ChainOfThought, CotConfig, lm, batch, **config)


def dpo(lm: Any, batch: Sequence[Sample], **config: Any) -> tuple[list, dict]:
    return run(DpoPairs, DpoConfig, lm, batch, **config)


def test_every_kept_record_carries_the_verdicts_of_all_traces_drawn() -> None:
    lm = Scripted({"apples": [[RIGHT[0], WRONG[0], CUT, TWO_ANSWERS, Completion(RIGHT[1], "stop")]]})
    out, figures = cot(lm, [problem("p")], k=2, n=5, round_size=5)
    assert [r.messages[1].content for r in out] == [RIGHT[0], RIGHT[1]]
    assert [r.meta["finish_reason"] for r in out] == [None, "stop"]  # None: this backend does not say
    traces = out[0].meta["traces"]
    assert traces == out[1].meta["traces"]
    assert [(t["correct"], t["match"], t["check"], t["finish_reason"]) for t in traces] == [
        (True, True, "", None),
        (False, False, "", None),
        (False, True, "truncated", "length"),
        (False, True, "conflicting_answers", None),
        (True, True, "", "stop"),
    ]
    assert traces[1]["predicted"] == "15" and traces[1]["method"] == "numeric"
    assert (out[0].meta["correct"], out[0].meta["pass_rate"], out[0].meta["label_source"]) == (2, 0.4, "reference")
    assert figures["removed_by_trace_check"] == {"truncated": 1, "conflicting_answers": 1}
    assert figures["cut_at_max_new_tokens"] == 1
    summary = ChainOfThought.stats_for_run(figures)["rejection_sampling"]
    assert summary["removed_by_trace_check"] == {"conflicting_answers": 1, "truncated": 1}


@pytest.mark.parametrize("trace_check", [True, False])
def test_a_cut_off_trace_is_never_kept(trace_check: bool) -> None:
    (rej,), figures = cot(
        Scripted({"apples": [[CUT]]}), [problem("p")], k=1, n=1, round_size=1, trace_check=trace_check
    )
    assert isinstance(rej, Rejected) and rej.reason == "no_correct_trace"
    assert "1 verified, 1 failed trace_check: truncated x1 (generation stopped at max_new_tokens)" in rej.detail
    assert rej.sample.meta["traces"][0]["finish_reason"] == "length"
    assert figures["removed_by_trace_check"] == {"truncated": 1}


def test_the_fake_generator_cuts_at_max_new_tokens_and_cot_drops_what_it_cut() -> None:
    lm = FakeTextGenerator(FakeLLMSettings(responses={"apples": [RIGHT[0]]}, cut_at_max_new_tokens=True))
    (rej,), _ = cot(lm, [problem("p")], k=1, n=2, round_size=2, max_new_tokens=8)
    assert rej.reason == "no_correct_trace" and {t["finish_reason"] for t in rej.sample.meta["traces"]} == {"length"}
    (kept,), _ = cot(lm, [problem("p")], k=1, n=2, round_size=2, max_new_tokens=64)
    assert kept.messages[1].content == RIGHT[0] and kept.meta["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("trace", "reason"),
    [
        (TWO_ANSWERS, "conflicting_answers"),
        (BAD_STEP, "wrong_step"),
        (LOOP, "degenerate"),
        ("Tom has 3 apples and buys 5 more. The answer is 8 because 3 +", "truncated"),
    ],
)
def test_trace_check_inside_cot_drops_a_verified_but_bad_trace_and_says_why(trace: str, reason: str) -> None:
    (rej,), figures = cot(Scripted({"apples": [[trace]]}), [problem("p")], k=1, n=1, round_size=1)
    assert isinstance(rej, Rejected) and rej.reason == "no_correct_trace" and f"{reason} x1" in rej.detail
    assert rej.sample.meta["traces"][0]["check"] == reason and rej.sample.meta["traces"][0]["match"]
    assert figures["removed_by_trace_check"] == {reason: 1} and figures["solved"] == 0
    (kept,), _ = cot(Scripted({"apples": [[trace]]}), [problem("p")], k=1, n=1, round_size=1, trace_check=False)
    assert kept.messages[1].content == trace  # the option turns the check off (the cut-off rule stays)


def test_dpo_chosen_passes_every_check_and_rejected_is_a_finished_wrong_solution() -> None:
    garbage = "Tom has 3 apples. " * 4 + "3 * 5 = 15. The answer is 15."
    cut_wrong = Completion("He has 3 and gets 5, 3 * 5 = 15. The answer is 15.", "length")
    replies = [TWO_ANSWERS, Completion(RIGHT[0], "stop"), garbage, cut_wrong, "The answer is 2.", WRONG[0]]
    (pair,), figures = dpo(Scripted({"apples": [replies]}), [problem("p")], n=6, round_size=6, pairs_per_problem=3)
    assert pair.messages[1].content == RIGHT[0] and pair.meta["rejected"] == WRONG[0]  # the only usable negative
    assert (pair.meta["finish_reason"], pair.meta["rejected_finish_reason"]) == ("stop", None)
    assert [t["check"] for t in pair.meta["traces"]] == ["conflicting_answers", "", "degenerate", "truncated", "", ""]
    assert figures["removed_by_trace_check"] == {"conflicting_answers": 1}


def test_dpo_rejected_finish_reason_is_written() -> None:
    wrong = Completion(WRONG[0], "stop")
    (pair,), _ = dpo(Scripted({"apples": [[RIGHT[0], wrong]]}), [problem("p")], n=2, round_size=2, pairs_per_problem=1)
    assert pair.meta["rejected"] == WRONG[0] and pair.meta["rejected_finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("answers", "groups"),
    [
        (["8", "8.0", "1/2", "0.5", "x"], [("8", 2), ("1/2", 2), ("x", 1)]),
        (["7", "8", "8"], [("8", 2), ("7", 1)]),
        ([], []),
        (["\\frac{1}{2}", "0.5", "\\boxed{0.5}"], [("\\frac{1}{2}", 3)]),
    ],
)
def test_group_answers_uses_the_verifier(answers: list[str], groups: list[tuple[str, int]]) -> None:
    assert group_answers(answers) == groups


@pytest.mark.parametrize(
    ("answers", "drawn", "min_agreement", "label", "why"),
    [
        (["8", "8.0", "8", "7"], 4, 0.5, "8", "3/4 votes"),
        (["8", "8.0", "8", "7"], 4, 0.8, None, "75% < min_agreement 80%"),
        (["8", "8", "7", "7"], 4, 0.5, None, "tie at 2/4"),
        (["8", "8"], 6, 0.5, None, "33% < min_agreement"),  # the share is of every sample drawn
        ([], 4, 0.5, None, "no usable answer in 4"),
        (["8"], 0, 0.5, None, "no usable answer in 0"),
    ],
)
def test_majority_vote(answers: list[str], drawn: int, min_agreement: float, label: str | None, why: str) -> None:
    vote = majority_vote(answers, drawn, min_agreement)
    assert vote.label == label and why in vote.detail


def unlabelled(pid: str, question: str = "Tom has 3 apples and buys 5 more. How many?") -> Sample:
    return Sample(id=pid, messages=(Message("user", question),))


EIGHT = ["3 + 5 = 8. The answer is 8.", "Three and five make 8.0 in all. The answer is 8.0.", "So \\boxed{8}."]


@pytest.mark.parametrize(
    ("replies", "min_agreement", "outcome"),
    [
        ([*EIGHT, WRONG[0]], 0.5, "8"),  # 3 of 4 agree (as numbers), the wrong one is outvoted
        ([*EIGHT, WRONG[0]], 0.8, "no_consensus"),  # 75 % is not enough
        ([EIGHT[0], EIGHT[1], WRONG[0], WRONG[0] + " "], 0.5, "no_consensus"),  # a tie names no label
        ([EIGHT[0], EIGHT[1], LOOP.replace("8", "5"), LOOP.replace("8", "5")], 0.5, "8"),  # loops do not vote
        (["I am not sure.", "Hmm.", "Let me think", "?"], 0.25, "no_consensus"),  # nobody answers
    ],
)
def test_cot_majority_vote_labels(replies: list[str], min_agreement: float, outcome: str) -> None:
    lm = Scripted({"apples": [replies[:2], replies[2:]]})
    out, figures = cot(lm, [unlabelled("u")], k=4, n=4, round_size=2, min_agreement=min_agreement)
    assert len(lm.calls) == 2  # a vote draws the whole budget, even when round one already agreed
    first = out[0]
    meta = first.meta if isinstance(first, Sample) else first.sample.meta
    assert meta["label_source"] == "majority" and len(meta["traces"]) == 4
    if outcome == "no_consensus":
        assert [r.reason for r in out] == ["no_consensus"] and figures["majority_vote"] == {"no_consensus": 1}
        return
    assert all(isinstance(r, Sample) and r.meta["verification"]["reference"] == outcome for r in out)
    assert meta["label_votes"][0] == {"answer": outcome, "count": 3 if WRONG[0] in replies else 2}
    assert meta["label_agreement"] == meta["label_votes"][0]["count"] / 4
    assert figures["majority_vote"] == {"labelled": 1}


def test_a_reference_is_always_the_label_and_without_min_agreement_no_reference_is_dropped() -> None:
    lm = Scripted({"apples": [[WRONG[0], WRONG[0] + " ", RIGHT[0]]], "pears": [[RIGHT[0]] * 3]})
    batch = [problem("p"), unlabelled("u", "How many pears?")]
    out, figures = cot(lm, batch, k=1, n=3, round_size=3, min_agreement=0.5)
    assert out[0].meta["label_source"] == "reference" and out[0].messages[1].content == RIGHT[0]
    assert out[0].meta["label_votes"] is None and out[0].meta["label_agreement"] is None
    assert out[1].meta["label_source"] == "majority" and out[1].meta["label_votes"] == [{"answer": "8", "count": 3}]
    lm = Scripted({"pears": [[RIGHT[0]]]})
    (rej,), _ = cot(lm, [unlabelled("u", "How many pears?")], k=1, n=1, round_size=1)
    assert rej.reason == "missing_reference" and not lm.calls  # no model time without a way to label


def test_dpo_with_majority_labels_prefers_the_majority_answer() -> None:
    lm = Scripted({"apples": [[EIGHT[0], EIGHT[1], WRONG[0]]]})
    (pair,), _ = dpo(lm, [unlabelled("u")], n=3, round_size=3, pairs_per_problem=1, min_agreement=0.6)
    assert pair.meta["rejected"] == WRONG[0] and pair.meta["label_source"] == "majority"
    assert pair.meta["chosen_verification"]["reference"] == "8"
