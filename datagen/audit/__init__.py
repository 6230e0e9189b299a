"""`datagen audit`: what a dataset kept, what it dropped and why, what it cost — as HTML (for people) or JSON.

`load` streams the parquet columns it needs, `report` computes one dict of numbers, `plots` draws them and
`html` renders a self-contained page; `write_report` ties them together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datagen.audit.report import Audit, build_audit

__all__ = ["Audit", "build_audit", "write_report"]


def write_report(dataset: str | Path, out: str | Path, *, fmt: str = "html", worst: int = 12, **options: Any) -> Path:
    """Audit `dataset` into `out/report.html` (or `out/report.json` with fmt="json"); returns the file written."""
    audit = build_audit(dataset, worst=worst, **options)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = folder / "report.json"
        path.write_text(json.dumps(audit.report, indent=2, default=str, ensure_ascii=False))
        return path
    if fmt != "html":
        raise ValueError(f"unknown report format {fmt!r}: html or json")
    from datagen.audit.html import render_html
    from datagen.audit.load import read_media

    media = read_media(audit.folder, [(w["file"], w["row"], w["audio"]) for w in audit.report["worst"]])
    path = folder / "report.html"
    path.write_text(render_html(audit, media), encoding="utf-8")
    return path
