"""Rejection-sampled chain of thought: adaptive rounds, the k cap, dedup, seeds, provenance and bad model output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sampling_fixtures import RIGHT, WRONG, Scripted, problem

from datagen.backends.fake import FakeLLMSettings, FakeTextGenerator
from datagen.generators.cot import ChainOfThought, CotConfig
from datagen.generators.sampling import derive_seed, near_duplicate
from datagen.prompts import load_prompt
from datagen.records import Image, Message, Rejected, Sample
from datagen.testing import tiny_png


def run_cot(backend: Any, batch: Sequence[Sample], seed: int = 7, **config: Any) -> list[Sample | Rejected]:
    return cot_with_figures(backend, batch, seed, **config)[0]


def cot_with_figures(
    backend: Any, batch: Sequence[Sample], seed: int = 7, **config: Any
) -> tuple[list[Sample | Rejected], dict[str, Any]]:
    """The step's output, and the figures it reports for a shard holding just those records."""
    step = ChainOfThought(CotConfig(generator="lm", **config), seed=seed)
    step.setup({"lm": backend})
    out = step.process(list(batch))
    kept = [r for r in out if isinstance(r, Sample)]
    return out, step.stats_for_shard(kept, [r for r in out if isinstance(r, Rejected)])


def fake(**settings: Any) -> FakeTextGenerator:
    return FakeTextGenerator(FakeLLMSettings(**settings))


def test_stops_a_problem_once_it_has_k_distinct_verified_traces() -> None:
    lm = Scripted({"apples": [[RIGHT[0], WRONG[0]], [WRONG[1], RIGHT[1]], [RIGHT[2], RIGHT[2]]]})
    out, figures = cot_with_figures(lm, [problem("p1")], k=2, n=8, round_size=2)
    assert [c[1] for c in lm.calls] == [2, 2]  # the third round was never drawn
    assert [r.id for r in out] == ["p1#t0", "p1#t1"]
    assert [r.messages[1].content for r in out] == [RIGHT[0], RIGHT[1]]
    assert out[0].messages[0].content.startswith("Tom has 3 apples")
    first, second = out[0].meta, out[1].meta
    assert (first["samples_drawn"], first["correct"], first["pass_rate"]) == (4, 2, 0.5)
    assert "solved" not in first and "samples_saved" not in second  # per-problem counts are the step's figures
    assert figures == {"problems": 1, "solved": 1, "samples_budget": 8, "samples_drawn": 4, "kept_traces": 2}
    assert [first["trace_index"], second["trace_index"]] == [0, 1]


def test_a_problem_never_solved_spends_its_budget_and_is_rejected_with_its_pass_rate() -> None:
    lm = Scripted({"apples": [[WRONG[0]] * 4, [WRONG[1]] * 2]})
    (rej,), figures = cot_with_figures(lm, [problem("hard")], k=1, n=6, round_size=4)
    assert [c[1] for c in lm.calls] == [4, 2]  # the last round asks only for what is left of n
    assert isinstance(rej, Rejected) and rej.reason == "no_correct_trace"
    assert "0/6" in rej.detail and "15" in rej.detail
    meta = rej.sample.meta
    assert (meta["pass_rate"], meta["samples_drawn"]) == (0.0, 6)
    assert figures == {"problems": 1, "solved": 0, "samples_budget": 6, "samples_drawn": 6, "kept_traces": 0}
    summary = ChainOfThought.stats_for_run(figures)["rejection_sampling"]
    assert (summary["pass_at_n"], summary["samples_saved"], summary["samples_saved_fraction"]) == (0.0, 0, 0.0)


def test_k_caps_the_traces_kept_from_one_round() -> None:
    lm = Scripted({"apples": [RIGHT + [RIGHT[0] + " Done."]]})
    out = run_cot(lm, [problem("p")], k=2, n=4, round_size=4)
    assert len(out) == 2 and out[0].meta["correct"] == 4 and out[0].meta["pass_rate"] == 1.0


def test_near_duplicates_do_not_count_toward_k_and_are_not_kept() -> None:
    dup = "  tom starts with 3 apples. He buys 5 more, so 3 + 5 = 8.   The answer is 8. "
    lm = Scripted({"apples": [[RIGHT[0], dup], [RIGHT[0].replace("Tom", "Tim"), RIGHT[1]]]})
    out = run_cot(lm, [problem("p")], k=2, n=8, round_size=2)
    assert len(lm.calls) == 2  # the first round's two correct traces were one trace
    assert [r.messages[1].content for r in out] == [RIGHT[0], RIGHT[1]]


@pytest.mark.parametrize(
    ("a", "b", "dup"),
    [
        ("The answer is 8.", "the answer   is 8.", True),
        ("3 + 5 = 8, so the answer is 8.", "3 + 5 = 8, so the answer is 8!", True),
        ("3 + 5 = 8, so the answer is 8.", "Eight apples: five bought, three owned. The answer is 8.", False),
        ("", "", True),
    ],
)
def test_near_duplicate(a: str, b: str, dup: bool) -> None:
    assert near_duplicate(a, [b], 0.1) is dup


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        (None, "generation_failed"),  # the backend failed the request
        ([], "generation_failed"),  # it returned nothing at all
        (["", "   "], "no_correct_trace"),  # empty text
        ([None, 42], "no_correct_trace"),  # not strings
        (["\x00\x01 ÿ" * 50, "The answer is"], "no_correct_trace"),  # garbage, answer missing
    ],
)
def test_malformed_model_output_is_a_reject_not_a_crash(replies: Any, reason: str) -> None:
    lm = Scripted({"apples": [replies]})
    (rej,) = run_cot(lm, [problem("p")], k=1, n=2, round_size=2)
    assert isinstance(rej, Rejected) and rej.reason == reason
    assert rej.sample.meta["samples_drawn"] == 2


def test_short_replies_count_as_failed_generations() -> None:
    lm = Scripted({"apples": [[RIGHT[0]]]})  # asked for 2, got 1
    (rec,) = run_cot(lm, [problem("p")], k=1, n=2, round_size=2)
    assert rec.meta["generation"]["failed_generations"] == 1 and rec.meta["pass_rate"] == 0.5


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ((Message("user", "What is 2+2?"),), "missing_reference"),
        ((Message("user", "What is 2+2?"), Message("assistant", "  ")), "missing_reference"),
        ((Message("user", "   "), Message("assistant", "4")), "missing_question"),
        ((Message("system", "hi"),), "missing_question"),
    ],
)
def test_records_that_are_not_problems_are_rejected(messages: tuple[Message, ...], reason: str) -> None:
    lm = Scripted({"": [["The answer is 4."]]})
    (rej,) = run_cot(lm, [Sample(id="x", messages=messages)], k=1, n=1, round_size=1)
    assert isinstance(rej, Rejected) and rej.reason == reason
    assert not lm.calls  # no model time spent on a record that cannot be verified


def test_one_batched_call_per_round_seeded_by_seed_round_and_active_set_not_batch_order() -> None:
    script = {"apples": [[WRONG[0]], [RIGHT[0]]], "pears": [[RIGHT[1]]]}
    pears = problem("q", "Ann has 4 pears and eats none. How many pears?", "#### 8")
    a = run_cot(Scripted(script), [problem("p"), pears], seed=3, k=1, n=4, round_size=1)
    lm = Scripted(script)
    b = run_cot(lm, [pears, problem("p")], seed=3, k=1, n=4, round_size=1)
    seeds = {r.id: r.meta["generation"]["seeds"] for r in a}
    assert seeds == {r.id: r.meta["generation"]["seeds"] for r in b}
    # round 0 has both problems in one call; round 1 only the unsolved "p"
    assert seeds["q#t0"] == [derive_seed(3, 0, "p", "q")]
    assert seeds["p#t0"] == [derive_seed(3, 0, "p", "q"), derive_seed(3, 1, "p")]
    assert [c[2].seed for c in lm.calls if c[0] == "apples"] == seeds["p#t0"]
    c = run_cot(Scripted(script), [problem("p")], seed=4, k=1, n=4, round_size=1)
    assert c[0].meta["generation"]["seeds"] != seeds["p#t0"]


def test_each_round_is_one_generator_call_over_the_active_problems() -> None:
    lm = fake(responses={"apples": [RIGHT[0]], "pears": [WRONG[0]]})
    calls: list[int] = []
    generate = lm.generate

    def counting(conversations: list, n: int = 1, sampling: object = None) -> list:
        calls.append(len(conversations))
        return generate(conversations, n, sampling)

    lm.generate = counting  # type: ignore[method-assign]
    pears = problem("q", "Ann has 4 pears and eats none. How many pears?", "#### 8")
    run_cot(lm, [problem("p"), pears, problem("r")], k=1, n=4, round_size=2)
    assert calls == [3, 1]  # p and r are solved in round 0; q (always wrong) goes on alone


def test_provenance_names_prompt_model_sampling_and_verification() -> None:
    lm = fake(responses={"apples": [RIGHT[0]]})
    (rec,) = run_cot(lm, [problem("p")], k=1, n=4, round_size=2, temperature=0.5, top_p=0.9, max_new_tokens=99)
    gen, ver = rec.meta["generation"], rec.meta["verification"]
    assert gen["prompt"] == load_prompt("cot_reasoning").ref and gen["generator"] == "fake_llm"
    assert (gen["temperature"], gen["top_p"], gen["max_new_tokens"], gen["sample_budget"]) == (0.5, 0.9, 99, 4)
    assert ver["match"] is True and ver["predicted"] == "8" and ver["reference"] == "8" and ver["method"]


def test_fake_llm_greedy_duplicates_cannot_fill_k_so_the_budget_is_spent() -> None:
    lm = fake(responses={"apples": [RIGHT[0], RIGHT[1]]})
    out = run_cot(lm, [problem("p")], k=2, n=6, round_size=2, temperature=0.0)
    assert len(out) == 1 and out[0].meta["samples_drawn"] == 6 and out[0].meta["correct"] == 6


def test_fake_llm_failure_and_mixed_batch_account_for_every_problem() -> None:
    lm = fake(responses={"apples": RIGHT, "pears": WRONG}, fail_on=["boom"])
    batch = [problem("a"), problem("b", "pears: how many? boom", "#### 1"), problem("c", "pears?", "#### 3")]
    out = run_cot(lm, batch, k=1, n=4, round_size=2)
    assert [(r.id, getattr(r, "reason", "kept")) for r in out] == [
        ("a#t0", "kept"),
        ("b", "generation_failed"),
        ("c", "no_correct_trace"),
    ]
    assert out[0].meta["samples_drawn"] == 2  # solved in the first round


def test_media_reach_the_model_and_stay_on_the_trace() -> None:
    image = Image(tiny_png(), "a.png")
    sample = Sample(
        id="v", messages=(Message("user", "<image>How many apples?"), Message("assistant", "8")), images=(image,)
    )
    lm = Scripted({"apples": [[RIGHT[0]]]})
    seen: list[Any] = []
    generate = lm.generate
    lm.generate = lambda conversations, n=1, sampling=None: (
        seen.extend(conversations) or generate(conversations, n, sampling)
    )  # type: ignore[method-assign]
    (rec,) = run_cot(lm, [sample], k=1, n=1, round_size=1)
    assert seen[0][-1].images == (image,) and "<image>How many apples?" in seen[0][-1].content
    assert rec.images == (image,) and rec.messages[0].content == "<image>How many apples?"
