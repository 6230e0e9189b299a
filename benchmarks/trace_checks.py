"""How well `trace_check` separates good reasoning traces from bad ones, per category of the labelled set.

    python benchmarks/trace_checks.py [--data tests/data/traces_labelled.jsonl] [--split dev|holdout|all]

Goal (issue 19): every good trace kept, >= 90 % of bad traces rejected. Printed for the default limits, with the
reference answer (as the cot/dpo generators have it), without (plain ms-swift input), and behind the answer
verifier (what the cot generator keeps once it calls `check_trace`), plus the reasons given and the DPO rule for
rejected sides (a bad trace of a category other than degenerate/truncated/conflicting is
still a usable negative).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from filters.answers import verify
from filters.trace_scoring import check_trace, is_usable_rejected

REPO = Path(__file__).resolve().parent.parent


def load(path: Path, split: str) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


MODES = {
    "trace_check, with the reference": (True, False),
    "trace_check, without a reference (plain ms-swift input)": (False, False),
    "the cot pipeline: answer verified against the reference, then trace_check": (True, True),
}


def table(rows: list[dict], mode: str) -> tuple[int, int, int, int]:
    """Print one line per (label, category); return (good kept, good, bad rejected, bad)."""
    with_reference, with_verifier = MODES[mode]
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    reasons: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in rows:
        reference = row["reference"] if with_reference else None
        verdict = check_trace(row["trace"], reference, finish_reason=row.get("finish_reason"))
        reason = verdict.reason
        if with_verifier and not verify(row["trace"], row["reference"]).match:
            reason = "not_verified"
        key = (row["label"], row["category"])
        counts[key][0] += not reason if row["label"] == "good" else bool(reason)
        counts[key][1] += 1
        reasons[key][reason or "kept"] += 1
    print(f"\n{mode}")
    print(f"  {'label':5} {'category':18} {'right':>7}  reasons")
    for (label, category), (right, total) in sorted(counts.items()):
        what = "kept" if label == "good" else "rejected"
        shown = ", ".join(f"{r} {n}" for r, n in reasons[(label, category)].most_common())
        print(f"  {label:5} {category:18} {right:>3}/{total:<3} {what:8} {shown}")
    good = [v for (label, _), v in counts.items() if label == "good"]
    bad = [v for (label, _), v in counts.items() if label == "bad"]
    return sum(r for r, _ in good), sum(t for _, t in good), sum(r for r, _ in bad), sum(t for _, t in bad)


def usable_negatives(rows: list[dict]) -> None:
    by_category: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row["label"] == "bad":
            verdict = is_usable_rejected(row["trace"], row["reference"], finish_reason=row.get("finish_reason"))
            by_category[row["category"]][verdict.reason or "usable"] += 1
    print("\nDPO rejected side (is_usable_rejected) on the bad traces")
    for category, reasons in sorted(by_category.items()):
        print(f"  {category:18} " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO / "tests" / "data" / "traces_labelled.jsonl"))
    p.add_argument("--split", default="all", choices=["dev", "holdout", "all"])
    args = p.parse_args()
    rows = load(Path(args.data), args.split)
    print(f"{len(rows)} labelled traces ({args.split})")
    for mode in MODES:
        good_kept, good, bad_rejected, bad = table(rows, mode)
        print(
            f"  => good kept {good_kept}/{good} ({good_kept / max(good, 1):.0%}), "
            f"bad rejected {bad_rejected}/{bad} ({bad_rejected / max(bad, 1):.0%})"
        )
    usable_negatives(rows)


if __name__ == "__main__":
    main()
