"""What each check removed: every drop reason with its count and one example record (id + the reject's detail).

Generic over `step:reason`, whatever the step (a generator, `qa_consistency`, `trace_check`, `decontaminate`,
`max_wer`): a count alone says how much a check removed, the example says whether it was right to. Examples come
from rejects/ (the first record of each reason; reading stops once every reason has one), else from stats.json's
`drop_examples` (written by `datagen run` and `datagen filter`). Ids and details are untrusted and cut to size
here; the page escapes them.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from datagen.audit.load import DatasetFolder, _batches
from datagen.audit.untrusted import drop_example, label


def drops_section(folder: DatasetFolder, funnel: dict[str, Any]) -> dict[str, Any] | None:
    """One row per drop reason of the funnel, in its order, each with its share of all drops and an example."""
    stages = funnel["stages"]
    if not stages:
        return None
    wanted = [f"{s['step']}:{s['reason']}" for s in stages]
    examples, origin = reject_examples(folder.reject_files, set(wanted)), "rejects/"
    if not examples:
        examples, origin = (folder.stats or {}).get("drop_examples") or {}, "stats.json"
    total = sum(s["dropped"] for s in stages)
    rows = [
        {
            "step": s["step"],
            "reason": s["reason"],
            "dropped": s["dropped"],
            "share": round(s["dropped"] / total, 4) if total else None,
            "example": examples.get(key),
        }
        for s, key in zip(stages, wanted, strict=True)
    ]
    return {
        "reasons": rows,
        "examples_from": origin if examples else None,
        "without_example": sum(1 for r in rows if r["example"] is None),
    }


def reject_examples(paths: list[Path], wanted: set[str]) -> dict[str, dict[str, str]]:
    """The first reject of each `step:reason` in `wanted`, as {id, detail}; stops reading when all are found."""
    found: dict[str, dict[str, str]] = {}
    for path in paths:
        for batch in _batches(path, ["id", "step", "reason", "detail"]):
            for row in batch:
                key = f"{label(row.get('step'))}:{label(row.get('reason'))}"
                if key in wanted and key not in found:
                    found[key] = drop_example(row.get("id"), row.get("detail"))
            if len(found) == len(wanted):
                return found
    return found


def drops_html(report: dict[str, Any]) -> str:
    """The "Drop reasons" section of the page."""
    from datagen.audit.html_parts import _missing, _num, _pct, _section, _table

    drops = report.get("drops")
    if not drops:
        return _section("drops", "Drop reasons", _missing("Nothing was dropped, or no rejects/ or stats.json say so."))
    rows = []
    for r in drops["reasons"]:
        ex = r["example"] or {}
        where = f"<code>{escape(ex['id'])}</code>" if ex else "—"
        rows.append(
            [escape(r["step"]), escape(r["reason"]), _num(r["dropped"]), _pct(r["share"]), where,
             escape(ex.get("detail", ""))]
        )  # fmt: skip
    inner = _table(["step", "reason", "dropped", "share of drops", "example id", "why (detail)"], rows, {2, 3})
    origin = drops["examples_from"]
    note = f"One example per reason, from {escape(origin)}." if origin else "No example: no rejects/ to read."
    if origin and drops["without_example"]:
        note += f" {drops['without_example']} reason(s) have no example there."
    return _section(
        "drops", "Drop reasons: what each check removed, one example each", inner + f'<p class="note">{note}</p>'
    )
