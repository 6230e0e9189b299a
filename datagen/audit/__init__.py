"""`datagen audit`: what a dataset kept, what it dropped and why, what it cost — as HTML (for people) or JSON.

`load` streams the parquet columns it needs, `report` computes one dict of numbers, `plots` draws them and
`html` renders a self-contained page; `write_report` ties them together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datagen.audit.report import Audit, build_audit

__all__ = ["Audit", "build_audit", "report_path", "write_report"]


def report_path(out: str | Path, fmt: str) -> tuple[Path, str]:
    """`--out` → (file, format): a path ending in .html / .json is the report itself, anything else a folder."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in (".html", ".json"):
        named = suffix[1:]
        if fmt not in (named, "html"):  # html is the default: an explicit --format json + x.html is a contradiction
            raise ValueError(f"--out {out} names a .{named} file but --format is {fmt}")
        return out, named
    return out / f"report.{fmt}", fmt


def write_report(dataset: str | Path, out: str | Path, *, fmt: str = "html", worst: int = 12, **options: Any) -> Path:
    """Audit `dataset` into `out` (a .html/.json file) or `out/report.html|json`; returns the file written."""
    path, fmt = report_path(out, fmt)
    if fmt not in ("html", "json"):
        raise ValueError(f"unknown report format {fmt!r}: html or json")
    audit = build_audit(dataset, worst=worst, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path.write_text(json.dumps(audit.report, indent=2, default=str, ensure_ascii=False))
        return path
    from datagen.audit.html import render_html
    from datagen.audit.load import read_media

    media = read_media(audit.folder, [(w["file"], w["row"], w["audio"]) for w in audit.report["worst"]])
    path.write_text(render_html(audit, media), encoding="utf-8")
    return path
