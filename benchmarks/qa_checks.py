"""QA consistency on the hand-labelled set: per category, good pairs kept and bad pairs rejected.

    python benchmarks/qa_checks.py [--split all|dev|holdout] [--judge smollm2] [--limit N] [--misses]

Prints one table per configuration: the default (lexical, CPU, no model), each option turned off or changed
(negation check off, looser and stricter thresholds), the old pair check (`filters.qa_pairs.judge_pairs`, for
comparison), and, with `--judge`, the model round trip (`hf_lm` SmolLM2, the embedded default; slow on a CPU:
use `--limit`). Goal (tests hold it for the default): >= 90 % of good pairs kept and >= 85 % of bad pairs
rejected in every category. Also prints which reason rejected the bad pairs of each category.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from datagen.records import Message, Sample
from filters.qa_consistency import QAConsistency, QAConsistencyConfig
from filters.qa_pairs import QAPair, judge_pairs

REPO = Path(__file__).resolve().parent.parent
LABELLED = REPO / "tests" / "data" / "qa_labelled.jsonl"
CATEGORIES = ("answers", "in_passage", "degenerate", "echo", "contradiction")
OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "check_negation: false": {"check_negation": False},
    "min_question_coverage: 0.75": {"min_question_coverage": 0.75},
    "min_question_coverage: 0.25": {"min_question_coverage": 0.25},
    "min_answer_grounding: 0.8": {"min_answer_grounding": 0.8},
    "min_answer_alignment: 0 (no off-target check)": {"min_answer_alignment": 0.0},
}


def _sample(row: dict[str, Any]) -> Sample:
    messages = (Message("user", row["question"]), Message("assistant", row["answer"]))
    return Sample(id=row["id"], messages=messages, meta={"passage": row["passage"]})


def _verdicts(rows: list[dict[str, Any]], step: QAConsistency) -> dict[str, str]:
    """Row id -> "" (kept) or the rejection reason."""
    out = step.process([_sample(r) for r in rows])
    return {s.id: getattr(s, "reason", "") for s in out}


def _old_check(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {r["id"]: judge_pairs([QAPair(r["question"], r["answer"])], r["passage"])[0].reason for r in rows}


def _table(title: str, rows: list[dict[str, Any]], verdicts: dict[str, str], seconds: float, misses: bool) -> None:
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        kept = not verdicts[r["id"]]
        right = kept if r["label"] == "good" else not kept
        cell = tally[(r["category"], r["label"])]
        cell[0] += right
        cell[1] += 1
        if r["label"] == "bad" and not kept:
            reasons[r["category"]][verdicts[r["id"]]] += 1
        if misses and not right:
            print(
                f"    miss {r['id']} ({r['label']}): {r['question']} -> {r['answer']} [{verdicts[r['id']] or 'kept'}]"
            )
    print(f"\n{title}   ({len(rows)} pairs, {seconds * 1000 / max(len(rows), 1):.2f} ms/pair)")
    print(f"  {'category':14s} {'good kept':>12s} {'bad rejected':>14s}   reasons of the rejections")
    for c in CATEGORIES:
        (gk, gn), (br, bn) = tally[(c, "good")], tally[(c, "bad")]
        ok = gn and bn and gk / gn >= 0.9 and br / bn >= 0.85
        why = ", ".join(f"{n} {reason}" for reason, n in reasons[c].most_common())
        good, bad = f"{gk}/{gn} {gk / max(gn, 1):4.0%}", f"{br}/{bn} {br / max(bn, 1):4.0%}"
        print(f"  {c:14s} {good:>12s} {bad:>14s} {'' if ok else 'x'}  {why}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", choices=["all", "dev", "holdout"], default="all")
    p.add_argument("--judge", choices=["smollm2"], help="also run the model round trip with this backend")
    p.add_argument("--limit", type=int, default=0, help="judge only the first N pairs (the model is slow on a CPU)")
    p.add_argument("--misses", action="store_true", help="list every pair the check gets wrong")
    args = p.parse_args()
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if args.split in ("all", r["split"])]
    for title, options in OPTIONS.items():
        started = time.perf_counter()
        verdicts = _verdicts(rows, QAConsistency(QAConsistencyConfig(**options)))
        _table(title, rows, verdicts, time.perf_counter() - started, args.misses and title == "default")
    started = time.perf_counter()
    _table("old pair check (filters.qa_pairs)", rows, _old_check(rows), time.perf_counter() - started, False)
    if args.judge:
        _judge(rows[: args.limit] if args.limit else rows, args.misses)


def _judge(rows: list[dict[str, Any]], misses: bool) -> None:
    from datagen.backends.hf_lm import HFCausalLM, HFLMSettings

    lm = HFCausalLM(HFLMSettings())
    lm.setup()
    step = QAConsistency(QAConsistencyConfig(judge="lm"))
    step.setup({"lm": lm})
    started = time.perf_counter()
    _table(
        "judge: smollm2 (lexical check, then the round trip)",
        rows,
        _verdicts(rows, step),
        time.perf_counter() - started,
        misses,
    )


if __name__ == "__main__":
    main()
