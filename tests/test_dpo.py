"""DPO pairs: pairing policies, the scorer fallback, the correction path, and what cannot become a pair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sampling_fixtures import RIGHT, WRONG, Scripted, problem

from datagen.backends.base import Scorer, lacks
from datagen.backends.fake import FakeLLMSettings, FakeTextGenerator
from datagen.generators.dpo import DpoConfig, DpoPairs, build_pairs, most_frequent_wrong
from datagen.generators.sampling import Trace
from datagen.prompts import load_prompt
from datagen.records import Rejected, Sample
from filters.answers import verify


def trace(text: str, reference: str = "#### 8") -> Trace:
    return Trace(text, 0, verify(text, reference))


def run_dpo(backend: Any, batch: Sequence[Sample], seed: int = 7, **config: Any) -> list[Sample | Rejected]:
    return dpo_with_figures(backend, batch, seed, **config)[0]


def dpo_with_figures(
    backend: Any, batch: Sequence[Sample], seed: int = 7, **config: Any
) -> tuple[list[Sample | Rejected], dict[str, Any]]:
    """The step's output, and the figures it reports for a shard holding just those records."""
    step = DpoPairs(DpoConfig(generator="lm", **config), seed=seed)
    step.setup({"lm": backend})
    out = step.process(list(batch))
    kept = [r for r in out if isinstance(r, Sample)]
    return out, step.stats_for_shard(kept, [r for r in out if isinstance(r, Rejected)])


C = [trace("Short. The answer is 8."), trace("A much longer correct solution: 3 + 5 = 8. The answer is 8.")]
W = [
    trace("It is 15. The answer is 15."),  # answer 15
    trace("3 * 5 = 15, a long wrong solution with many words. The answer is 15."),  # answer 15 again
    trace("Clearly 2. The answer is 2."),  # answer 2
    trace("Subtract: 5 - 3 = 2 is what I get after long thought, plus 5. The answer is 7."),  # answer 7
]


def _texts(pairs: list[tuple[Trace, Trace, float | None]]) -> list[tuple[str, str]]:
    return [(c.text[:12], w.text[:12]) for c, w, _ in pairs]


@pytest.mark.parametrize(
    ("policy", "scores", "count", "label", "expected_rejected"),
    [
        # most frequent wrong answer first (15 twice), one per answer before repeats, ties in draw order
        ("hardest_negative", None, 3, "hardest_negative:most_frequent_wrong_answer", [W[0], W[2], W[3]]),
        ("hardest_negative", None, 4, "hardest_negative:most_frequent_wrong_answer", [W[0], W[2], W[3], W[1]]),
        # with likelihoods: highest score first
        ("hardest_negative", [-3.0, -0.5, -9.0, -1.0], 2, "hardest_negative:likelihood", [W[1], W[3]]),
        ("length_matched", None, 2, "length_matched", [W[0], W[1]]),
    ],
)
def test_pairing_policies(
    policy: Any, scores: list[float] | None, count: int, label: str, expected_rejected: list[Trace]
) -> None:
    pairs, got_label = build_pairs(C, W, policy, count, seed=1, scores=scores)
    assert got_label == label
    assert [w for _, w, _ in pairs] == expected_rejected
    if scores is not None:
        assert [s for _, _, s in pairs] == sorted(scores, reverse=True)[:count]


def test_length_matched_pairs_closest_lengths_and_uses_every_chosen_first() -> None:
    pairs, _ = build_pairs(C, W, "length_matched", 2, seed=0)
    assert _texts(pairs) == [("Short. The a", "It is 15. Th"), ("A much longe", "3 * 5 = 15, ")]
    diffs = [abs(len(c.text) - len(w.text)) for c, w, _ in pairs]
    assert diffs[0] <= 10 and diffs[1] <= 20


def test_random_policy_is_seeded_and_uses_each_rejected_once() -> None:
    runs = {tuple(_texts(build_pairs(C, W, "random", 4, seed=s)[0])) for s in range(6)}
    assert len(runs) > 1  # depends on the seed
    pairs, _ = build_pairs(C, W, "random", 4, seed=3)
    assert pairs == build_pairs(C, W, "random", 4, seed=3)[0]
    assert sorted(w.text for _, w, _ in pairs) == sorted(w.text for w in W)
    assert len(build_pairs(C, W, "random", 9, seed=3)[0]) == len(W)


@pytest.mark.parametrize("policy", ["random", "hardest_negative", "length_matched"])
def test_no_pairs_without_both_sides(policy: Any) -> None:
    assert build_pairs([], W, policy, 2, seed=0)[0] == []
    assert build_pairs(C, [], policy, 2, seed=0)[0] == []


def test_most_frequent_wrong_interleaves_answers() -> None:
    assert [t.verification.predicted for t in most_frequent_wrong(W)] == ["15", "2", "7", "15"]


def test_step_builds_pairs_with_rejected_and_provenance() -> None:
    lm = Scripted({"apples": [[RIGHT[0], WRONG[0], WRONG[0] + " ", WRONG[1]]]})
    out, figures = dpo_with_figures(lm, [problem("p")], n=8, round_size=4, pairs_per_problem=2)
    assert len(lm.calls) == 1  # one correct and two distinct wrong after the first round: stop
    assert [r.id for r in out] == ["p#p0", "p#p1"]
    assert all(r.messages[1].content == RIGHT[0] for r in out)
    assert [r.meta["rejected"] for r in out] == [WRONG[0], WRONG[1]]
    m = out[0].meta
    assert m["pairing"] == "hardest_negative:most_frequent_wrong_answer"  # the double has no scorer
    assert m["chosen_verification"]["match"] and not m["rejected_verification"]["match"]
    assert m["rejected_verification"]["predicted"] == "15" and m["rejected_score"] is None
    assert (m["corrected"], m["pass_rate"], m["samples_drawn"]) == (0, 0.25, 4)
    assert figures == {"problems": 1, "solved": 1, "samples_budget": 8, "samples_drawn": 4, "pairs_built": 2}


class ScoringScripted(Scripted):
    """A backend that implements the optional likelihood scorer: longer completions are 'more likely' here."""

    def score(self, conversations: list[Any], completions: list[str]) -> list[float]:
        assert len(conversations) == len(completions)
        return [float(len(c)) for c in completions]


def test_hardest_negative_uses_the_backend_scorer_when_there_is_one() -> None:
    assert lacks(ScoringScripted({}), Scorer) == [] and lacks(Scripted({}), Scorer) == ["score"]
    lm = ScoringScripted({"apples": [[RIGHT[0], WRONG[1], WRONG[0]]]})
    out = run_dpo(lm, [problem("p")], n=3, round_size=3, pairs_per_problem=1)
    (rec,) = out
    assert rec.meta["pairing"] == "hardest_negative:likelihood"
    assert rec.meta["rejected"] == WRONG[0] and rec.meta["rejected_score"] == float(len(WRONG[0]))


FIXED = "Tom has 3 apples and buys 5, so he has 3 + 5 = 8 apples. The answer is 8."


@pytest.mark.parametrize(
    ("correction", "reply", "outcome"),
    [
        (True, FIXED, "corrected"),
        (True, "Still 15. The answer is 15.", "correction did not verify"),
        (True, "", "correction failed"),
        (True, WRONG[0].replace("15.", "8."), "trace_check: wrong_step: 3 * 5 = 8"),  # its step is wrong
        (True, WRONG[1].replace("2.", "8."), "near-copy"),
        (True, "The student's solution is correct. The answer is 8.", "leaks the prompt's framing ('student')"),
        (True, "Tom has 8.\n" + "The answer is 8 apples.\n" * 6, "fails trace_check: degenerate"),
        (True, "The answer is 8. Tom has 3 apples and buys 5 more, so he has", "fails trace_check: truncated"),
        (False, FIXED, "0/4 correct (0 verified)"),
    ],
)
def test_correction_is_used_only_when_it_verifies(correction: bool, reply: str, outcome: str) -> None:
    lm = Scripted({"student's solution": [[reply]], "apples": [[WRONG[0], WRONG[1]]] * 2})
    out = run_dpo(lm, [problem("p")], n=4, round_size=2, pairs_per_problem=2, correction=correction)
    if outcome == "corrected":
        assert [r.messages[1].content for r in out] == [FIXED, FIXED]
        assert [r.meta["rejected"] for r in out] == [WRONG[0], WRONG[1]]
        assert out[0].meta["corrected"] == 1 and out[0].meta["correct"] == 0  # pass@N counts sampling only
        assert out[0].meta["correction_prompt"] == load_prompt("dpo_correction").ref
        asked = next(c for c in lm.calls if c[0] == "student's solution")
        assert asked[1] == 1 and asked[2].temperature == 0.0
    else:
        (rej,) = out
        assert isinstance(rej, Rejected) and rej.reason == "no_correct_trace" and outcome in rej.detail
        assert rej.sample.meta["pass_rate"] == 0.0
    if not correction:
        assert all(c[0] != "student's solution" for c in lm.calls)


def test_correction_prompt_shows_the_wrong_attempt_and_the_bare_reference_answer() -> None:
    seen: list[str] = []
    lm = Scripted({"student's solution": [[FIXED]], "apples": [[WRONG[0]]] * 4})
    generate = lm.generate

    def spy(conversations: list[Any], n: int = 1, sampling: Any = None) -> list[Any]:
        seen.extend(conv[-1].content for conv in conversations)
        return generate(conversations, n, sampling)

    lm.generate = spy  # type: ignore[method-assign]
    run_dpo(lm, [problem("p")], n=2, round_size=1, pairs_per_problem=1, correction=True)
    fix = seen[-1]
    assert WRONG[0] in fix and "The correct final answer is 8." in fix and "####" not in fix


def test_all_correct_gives_no_wrong_trace() -> None:
    lm = Scripted({"apples": [RIGHT[:2]]})
    (rej,) = run_dpo(lm, [problem("p")], n=2, round_size=2)
    assert rej.reason == "no_wrong_trace" and rej.sample.meta["correct"] == 2


def test_traces_without_an_answer_are_not_rejected_candidates_unless_allowed() -> None:
    script = {"apples": [[RIGHT[0], "I am not sure how to do this one."]]}
    (rej,) = run_dpo(Scripted(script), [problem("p")], n=2, round_size=2, pairs_per_problem=1)
    assert rej.reason == "no_wrong_trace"
    (rej,) = run_dpo(  # trace_check's rule for the rejected side asks for a clearly stated answer too
        Scripted(script), [problem("p")], n=2, round_size=2, pairs_per_problem=1, rejected_needs_answer=False
    )
    assert rej.reason == "no_wrong_trace"
    (rec,) = run_dpo(
        Scripted(script),
        [problem("p")],
        n=2,
        round_size=2,
        pairs_per_problem=1,
        rejected_needs_answer=False,
        trace_check=False,
    )
    assert rec.meta["rejected"] == "I am not sure how to do this one."


def test_with_fake_llm_every_problem_is_accounted_for() -> None:
    lm = FakeTextGenerator(FakeLLMSettings(responses={"apples": RIGHT + WRONG, "pears": WRONG}, fail_on=["boom"]))
    batch = [problem("a"), problem("b", "pears?", "#### 3"), problem("c", "boom", "#### 1"), Sample(id="d")]
    out = run_dpo(lm, batch, n=8, round_size=4, pairs_per_problem=2, policy="random")
    kinds = [(r.id.split("#")[0], getattr(r, "reason", "pair")) for r in out]
    assert (
        ("b", "no_correct_trace") in kinds
        and ("c", "generation_failed") in kinds
        and ("d", "missing_question") in kinds
    )
    pairs = [r for r in out if not isinstance(r, Rejected)]
    assert pairs and all(r.id.startswith("a#p") and r.meta["pairing"] == "random" for r in pairs)
    assert all(r.messages[1].content in RIGHT and r.meta["rejected"] in WRONG for r in pairs)


def test_steps_declare_exactly_the_meta_they_write() -> None:
    from datagen.generators.cot import ChainOfThought

    for step in (ChainOfThought, DpoPairs):
        assert set(step.writes) == set(step.features())
