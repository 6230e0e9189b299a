"""Answer verifier agreement on the labelled table (tests/data/answer_cases.jsonl), per category.

    python benchmarks/verifier.py [--cases tests/data/answer_cases.jsonl] [--show]

Each row is (prediction, reference, should match). A false accept (a wrong answer verified as right) teaches the
model a wrong answer, so it is the figure that must be zero; a false reject only costs a sample. `--show` lists
every disagreement with the verifier's method and detail, and for a known false reject why it remains. Also prints
the time per check (symbolic checks run in the sandboxed worker; its startup is paid before timing).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from filters.answers import verify, warm_up

CASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "answer_cases.jsonl"


def load_cases(path: Path = CASES) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=Path, default=CASES)
    p.add_argument("--show", action="store_true", help="list every disagreement")
    args = p.parse_args()
    cases = load_cases(args.cases)
    warm_up()
    verify("five", "5")  # the number-word reader's import, once, outside the timing
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    wrong = []
    start = time.perf_counter()
    for case in cases:
        result = verify(case["prediction"], case["reference"])
        row = table[case["category"]]
        row["cases"] += 1
        row["accept_rows" if case["match"] else "reject_rows"] += 1
        if result.match == case["match"]:
            row["agree"] += 1
        else:
            row["false_accepts" if result.match else "false_rejects"] += 1
            wrong.append((case, result))
    elapsed = time.perf_counter() - start
    print(f"{'category':<20}{'cases':>7}{'accept':>8}{'reject':>8}{'agree':>8}{'false acc':>11}{'false rej':>11}")
    total: dict[str, int] = defaultdict(int)
    for category, row in sorted(table.items()):
        for key, value in row.items():
            total[key] += value
        print(
            f"{category:<20}{row['cases']:>7}{row['accept_rows']:>8}{row['reject_rows']:>8}{row['agree']:>8}"
            f"{row['false_accepts']:>11}{row['false_rejects']:>11}"
        )
    print(
        f"{'TOTAL':<20}{total['cases']:>7}{total['accept_rows']:>8}{total['reject_rows']:>8}{total['agree']:>8}"
        f"{total['false_accepts']:>11}{total['false_rejects']:>11}"
    )
    per_check = elapsed / max(len(cases), 1) * 1000
    print(f"agreement {total['agree'] / max(total['cases'], 1):.1%}; {per_check:.1f} ms per check")
    if args.show:
        for case, result in wrong:
            kind = "FALSE ACCEPT" if result.match else "false reject"
            known = case.get("known_false_reject")
            print(
                f"{kind:<13}[{case['category']}] {case['prediction']!r} vs {case['reference']!r}: "
                f"{result.method} {result.detail}" + (f"\n{'':13}known: {known}" if known else "")
            )


if __name__ == "__main__":
    main()
