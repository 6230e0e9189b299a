"""trace_check: the labelled trace set, the arithmetic checker, the DPO rejected-side rule and the step itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from datagen.records import Message, Sample
from filters.trace_arithmetic import check_equations, find_equations
from filters.trace_check import TraceCheck, TraceCheckConfig
from filters.trace_scoring import TraceLimits, check_trace, is_usable_rejected, score_trace

LABELLED = Path(__file__).parent / "data" / "traces_labelled.jsonl"


def labelled() -> list[dict]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]


def verdict_of(row: dict, with_reference: bool = True):
    reference = row["reference"] if with_reference else None
    return check_trace(row["trace"], reference, finish_reason=row.get("finish_reason"))


def test_the_labelled_set_is_big_and_varied_enough() -> None:
    rows = labelled()
    labels = Counter(r["label"] for r in rows)
    assert len(rows) >= 80 and labels["good"] >= 40 and labels["bad"] >= 40
    assert {r["split"] for r in rows} == {"dev", "holdout"}
    assert len({r["id"] for r in rows}) == len(rows)
    for category in ("no_answer", "truncated", "conflicting", "wrong_step", "degenerate"):
        assert sum(r["category"] == category and r["label"] == "bad" for r in rows) >= 6, category


@pytest.mark.parametrize("split", ["dev", "holdout"])
def test_every_good_trace_is_kept_and_nine_in_ten_bad_ones_rejected(split: str) -> None:
    rows = [r for r in labelled() if r["split"] == split]
    good = [r for r in rows if r["label"] == "good"]
    bad = [r for r in rows if r["label"] == "bad"]
    dropped_good = [(r["id"], verdict_of(r).reason, verdict_of(r).detail) for r in good if not verdict_of(r).ok]
    assert dropped_good == []
    kept_bad = [r["id"] for r in bad if verdict_of(r).ok]
    assert len(kept_bad) <= 0.1 * len(bad), kept_bad


def test_without_a_reference_only_text_answers_lose_their_final_sentence() -> None:
    """Records with no reference (plain ms-swift input): a number-free last sentence needs the reference."""
    lost = [r for r in labelled() if r["label"] == "good" and not verdict_of(r, with_reference=False).ok]
    assert all(not any(c.isdigit() for c in r["reference"]) for r in lost), [r["id"] for r in lost]
    assert len(lost) <= 2


@pytest.mark.parametrize(
    ("row_id", "reason"),
    [
        ("bad-conflicting-00", "conflicting_answers"),  # "The final answer is 120" ... "the answer is 14"
        ("bad-wrong_step-00", "wrong_step"),  # 2*2*14 = 120
        ("bad-wrong_step-01", "wrong_step"),  # 12*12 = 14
        ("bad-truncated-00", "degenerate"),  # Ben's sister's sister's sister's ... cut mid-word
        ("bad-truncated-01", "truncated"),
        ("bad-no_answer-00", "truncated"),
        ("bad-cut_at_max_tokens-00", "truncated"),
    ],
)
def test_the_issue_examples_get_their_reason(row_id: str, reason: str) -> None:
    row = next(r for r in labelled() if r["id"] == row_id)
    assert verdict_of(row).reason == reason


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("2*2*14 = 120", [False]),
        ("12*12 = 14", [False]),
        ("3 + 5 = 8", [True]),
        ("3 x 4 = 12 and 3 × 4 = 13", [True, False]),
        ("10 / 3 = 3.33", [True]),  # rounded to the decimals written
        ("2 / 3 = 0.66", [True]),  # truncated to the decimals written
        ("10 / 3 = 3", [False]),  # an integer is exact unless marked as approximate
        ("100 / 7 ≈ 14", [True]),
        ("100 / 7 = about 14", [True]),
        ("100 / 7 ≈ 20", [False]),
        ("15% of 80 = 12", [True]),
        ("20 / 80 = 0.25 = 25%", [True, True]),
        ("50 + 20% = 60", [True]),  # a relative increase
        ("1,250 + 3,750 = 5,000", [True]),
        ("$1.50 * 3 = $4.50", [True]),
        ("12 m ÷ 1.5 m = 8 pieces", [True]),
        ("(3 + 5) * 2 - 4 = 12", [True]),
        ("2(7 + 4) = 22", [True]),
        ("2^10 = 1024", [True]),
        ("-3 + 5 = 2", [True]),
        ("3 * 4 = 12 + 2 = 14", [True]),  # a running total
        (r"$\frac{4 + 8 + 15}{3} = \frac{27}{3} = 8$", [True, False]),
        (r"$12 \times 13 = 156$", [True]),
        ("He earned 12*52=<<12*52=624>>624 pages", [True]),
        ("5 / 0 = 0", []),  # undefined: not judged
        ("y - 3 = 7", []),  # algebra, not arithmetic
        ("2x - 3 = 7", []),
        ("5 + 7 = 2x", []),
        ("r^2 = 4", []),
        ("3 km = 3000 m", []),  # no operation written
        ("9^9^9^9 = 3", []),  # too big to be grade-school arithmetic: skipped, never computed
        ("1" * 500 + " * 2 = 3", []),
        ("__import__('os').system('echo hi') = 0", []),
        ("10:30 + 5 = 10:35", []),
        ("", []),
    ],
)
def test_equations(text: str, holds: list[bool]) -> None:
    assert [e.holds for e in find_equations(text)] == holds


def test_wrong_equations_are_quoted() -> None:
    assert check_equations("So 2*2*14 = 120 dollars and 6 × 4 = 24.") == (2, ["2 * 2 * 14 = 120"])


@pytest.mark.parametrize(
    ("text", "reference", "ok", "reason"),
    [
        ("3 + 5 = 9, so Tom has 9 apples.\nThe answer is 9.", "8", True, ""),  # a wrong step is a fine negative
        ("Tom has 3 + 4 = 7 apples. The answer is 7.", "8", True, ""),
        ("Tom has 3 + 5 = 8 apples. The answer is 8.", "8", False, "not_wrong"),
        ("Tom has 3 apples and buys 5, so he has", "8", False, "truncated"),
        ("The answer is 7. No wait, the answer is 9.", "8", False, "conflicting_answers"),
        ("Tom has 7. Tom has 7. Tom has 7. Tom has 7. The answer is 7.", "8", False, "degenerate"),
        ("Let's think about the apples step by step.", "8", False, "truncated"),
        ("The answer is 9.", "8", False, "truncated"),  # cut at the token limit: see finish_reason below
        ("Tom has 3 + 5 = 8 apples.\nThe answer is 9.", "8", False, "unsupported_answer"),  # an answer from nowhere
        ("3 + 5 = 9 and 9 * 2 = 20. The answer is 20.", "16", False, "wrong_step"),  # several wrong steps: garbage
        # SmolLM2's: right in words, then the prompt's placeholder for an answer: nothing wrong to prefer against
        ("Two + two equals four.\n\nThe answer is N.", "4", False, "no_clear_answer"),
        ("Tom has 3 + 5 = 8 apples, so the answer is x.", "3 + 5 = 8. #### 8", False, "no_clear_answer"),
        ("Three and five make nine. The answer is nine.", "3 + 5 = 8. #### 8", True, ""),  # a number in words
        ("The pencils are blue, so the answer is B.", "C", True, ""),  # a letter is an answer where one is asked
        (
            "The capital of France is Lyon, so the answer is Lyon.",
            "Paris",
            True,
            "",
        ),  # text: not sought in the work
    ],
)
def test_is_usable_rejected(text: str, reference: str, ok: bool, reason: str) -> None:
    finish = "length" if text == "The answer is 9." else None
    verdict = is_usable_rejected(text, reference, finish_reason=finish)
    assert (verdict.ok, verdict.reason) == (ok, reason)


@pytest.mark.parametrize(
    ("text", "ok"),
    [("", False), ("   ", False), (None, False), (42, False), ("\x00" * 10, False), ("=" * 5000, False),
     ("((((" * 2000 + "1 = 1", True), ("2 * " * 20000 + "2 = 4.", True), ("1 = " * 20000 + "1.", True)],
)  # fmt: skip
def test_hostile_or_empty_text_is_a_verdict_not_a_crash(text: object, ok: bool) -> None:
    verdict = check_trace(text)  # type: ignore[arg-type]
    assert verdict.ok == ok and (ok or verdict.reason)


def test_limits_are_separate_from_scores() -> None:
    text = "6 × 4 = 26. So there are 26 oranges."
    scores = score_trace(text)
    assert scores.wrong_steps == ("6 * 4 = 26",) and scores.final_answer == "26"
    assert not check_trace(text).ok
    assert check_trace(text, limits=TraceLimits(max_wrong_steps=1)).ok


def record(trace: str | None, **meta: object) -> Sample:
    messages = [Message("user", "Tom has 3 apples and buys 5 more. How many apples does he have?")]
    if trace is not None:
        messages.append(Message("assistant", trace))
    return Sample(id="p1", messages=tuple(messages), meta=dict(meta))


GOOD = "Tom has 3 + 5 = 8 apples.\n\\boxed{8}"


@pytest.mark.parametrize(
    ("sample", "config", "keep", "reason"),
    [
        (record(GOOD), {}, True, ""),
        (record(GOOD, verification={"match": True, "reference": "8"}), {}, True, ""),
        (record(GOOD, finish_reason="length"), {}, False, "truncated"),
        (record("Tom has 3 + 5 = 9 apples. The answer is 9."), {}, False, "wrong_step"),
        (record("Tom has 3 + 5 = 9 apples. The answer is 9."), {"max_wrong_steps": 1}, True, ""),
        (record(None), {}, False, "missing_trace"),
        (record("  "), {}, False, "missing_trace"),
        # DPO: chosen is the assistant turn, the rejected reply rides in meta
        (record(GOOD, rejected="3 + 4 = 7, so the answer is 7.", rejected_verification={"reference": "8"}), {}, True,
         ""),
        (record(GOOD, rejected="Tom has 3 apples and he buys", rejected_verification={"reference": "8"}), {}, False,
         "unusable_rejected"),
        (record(GOOD, rejected="So the answer is 7.", rejected_finish_reason="length"), {}, False, "unusable_rejected"),
        (record(GOOD, rejected="The answer is 8.", rejected_verification={"reference": "8"}), {}, False,
         "unusable_rejected"),
        (record(GOOD, rejected="Tom has 3 apples and he buys"), {"check_rejected": False}, True, ""),
        (record(GOOD, rejected=None), {}, True, ""),  # a missing rejected reply is not a DPO record
    ],
)  # fmt: skip
def test_step(sample: Sample, config: dict, keep: bool, reason: str) -> None:
    step = TraceCheck(TraceCheckConfig(**config))
    (out,) = step.process([sample])
    assert isinstance(out, Sample) == keep
    if not keep:
        assert out.reason == reason and out.step == "trace_check" and out.detail
    if reason != "missing_trace":
        scored = out if keep else out.sample
        assert set(TraceCheck.writes) <= set(scored.meta)


def test_step_scores_match_declared_features() -> None:
    assert set(TraceCheck.features()) == set(TraceCheck.writes)


MANIFEST = Path(__file__).parents[1] / "manifests" / "trace_check.yaml"
SHIPPED_TRACES = MANIFEST.parent / "data" / "traces" / "traces.jsonl"


def test_run_and_filter_a_jsonl_of_swift_traces(tmp_path: Path) -> None:
    """`datagen run` with only `trace_check` on ms-swift records; then `datagen filter` with a looser limit."""
    import shutil

    import pyarrow.parquet as pq
    import yaml

    from datagen.cli import main

    shutil.copy(SHIPPED_TRACES, tmp_path / "traces.jsonl")
    manifest = yaml.safe_load(MANIFEST.read_text())
    manifest["input"] = {"path": str(tmp_path / "traces.jsonl")}
    manifest["output"] = {"path": str(tmp_path / "out"), "shard_size": 5}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(manifest))
    assert main(["run", str(tmp_path / "m.yaml")]) == 0

    def rows(folder: Path, kind: str) -> list[dict]:
        return pq.read_table(sorted((folder / kind).glob("*.parquet"))).to_pylist()

    kept = {r["id"]: r for r in rows(tmp_path / "out", "data")}
    rejected = {r["id"]: (r["reason"], r["detail"]) for r in rows(tmp_path / "out", "rejects")}
    assert sorted(kept) == ["tr-000", "tr-001", "tr-002", "tr-003", "tr-010", "tr-011"]
    assert rejected == {
        "tr-004": ("conflicting_answers", "'120' vs '14'"),
        "tr-005": ("degenerate", "a phrase repeats 4 times in a row"),
        "tr-006": ("wrong_step", "6 * 4 = 26"),
        "tr-007": ("truncated", "no final answer is stated"),
        "tr-008": ("truncated", "ends mid-sentence: ...is 4 × 6 = 24 litres. So the farmer gets"),
        "tr-009": ("degenerate", "a sentence occurs 4 times"),
    }
    assert kept["tr-000"]["trace_final_answer"] == "8" and kept["tr-000"]["trace_equations"] == 1
    assert kept["tr-000"]["messages"][-1]["content"].endswith("\\boxed{8}")

    # `datagen filter`: the same check on a dataset that was written without it gives the same verdicts
    manifest["steps"] = [{"step": "text_sanity", "english": False}]
    manifest["output"] = {"path": str(tmp_path / "unchecked"), "shard_size": 5}
    (tmp_path / "m2.yaml").write_text(yaml.safe_dump(manifest))
    assert main(["run", str(tmp_path / "m2.yaml")]) == 0
    assert len(rows(tmp_path / "unchecked", "data")) == 12
    for name, limits, expected in [
        ("same", {}, sorted(kept)),
        ("looser", {"max_wrong_steps": 1}, sorted([*kept, "tr-006"])),
    ]:
        curate = {"name": name, "steps": [{"step": "trace_check", **limits}]}
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(curate))
        args = ["filter", str(tmp_path / "unchecked"), "--manifest", str(tmp_path / f"{name}.yaml")]
        assert main([*args, "--out", str(tmp_path / name)]) == 0
        assert sorted(r["id"] for r in rows(tmp_path / name, "data")) == expected


def test_on_real_cot_and_dpo_records() -> None:
    """The step reads what the generators write: cot's `verification`, dpo's `rejected` and its verifications."""
    from sampling_fixtures import Scripted, problem

    from datagen.generators.cot import ChainOfThought, CotConfig
    from datagen.generators.dpo import DpoConfig, DpoPairs

    right = "Tom has 3 apples and buys 5 more, so 3 + 5 = 8. The answer is 8."
    wrong_step = "Tom has 3 + 5 = 9 apples. The answer is 9."  # a wrong step and a wrong answer: a fine negative
    cut = "Tom has 3 apples. The answer is 7 because he buys 5 more and 3 + 5 is"
    looping = "Tom has 3. Tom has 3. Tom has 3. The answer is 3."
    script = {"apples": [[right, wrong_step, cut, looping]]}

    options = {"generator": "lm", "n": 4, "round_size": 4, "pairs_per_problem": 3, "policy": "random"}
    dpo = DpoPairs(DpoConfig(**options), seed=1)
    dpo.setup({"lm": Scripted(script)})
    (pair,) = dpo.process([problem("p")])  # the generator applies the same rule by default
    assert isinstance(pair, Sample) and pair.meta["rejected"] == wrong_step

    dpo = DpoPairs(DpoConfig(**options, trace_check=False), seed=1)
    dpo.setup({"lm": Scripted(script)})
    pairs = [p for p in dpo.process([problem("p")]) if isinstance(p, Sample)]
    assert len(pairs) == 3  # without the check the generator pairs every wrong trace that has an answer
    checked = {p.meta["rejected"]: out for p in pairs for out in TraceCheck().process([p])}
    assert isinstance(checked[wrong_step], Sample) and checked[wrong_step].meta["trace_rejected_problem"] == ""
    assert checked[cut].reason == "unusable_rejected" and "truncated" in checked[cut].detail
    assert checked[looping].reason == "unusable_rejected" and "degenerate" in checked[looping].detail

    flip_flop = "The answer is 8. No, the answer is 8 + 1 = 10. The answer is 8."
    cot = ChainOfThought(CotConfig(generator="lm", n=2, round_size=2, k=2), seed=1)
    cot.setup({"lm": Scripted({"apples": [[right, flip_flop]]})})
    (kept,) = cot.process([problem("p")])  # the generator applies the same rule by default
    assert kept.messages[1].content == right and kept.meta["traces"][1]["check"] == "conflicting_answers"
    cot = ChainOfThought(CotConfig(generator="lm", n=4, round_size=4, k=2, trace_check=False), seed=1)
    cot.setup({"lm": Scripted({"apples": [[right, flip_flop]]})})
    records = cot.process([problem("p")])
    assert [r.meta["verification"]["match"] for r in records] == [True, True]  # both end in 8: both verified
    verdicts = [out for r in records for out in TraceCheck().process([r])]
    assert isinstance(verdicts[0], Sample) and verdicts[1].reason == "conflicting_answers"
