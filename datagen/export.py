"""Exports of a finished dataset to trainers' own formats, each a folder with its media written beside it.

`export(root, fmt, out)` is the one entry point: it checks the target folder (`export_media.prepare_target`),
runs the format's writer and leaves the `export.json` marker. Writers, one module each: ms-swift (here), TRL
(`export_trl`), lhotse (`export_lhotse`), NeMo (`export_nemo`). All name media through `export_media`, never
after a record id.

In the swift export a spoken turn's text is replaced by an `<audio>` tag (the model hears the query rather than
reading it), keeping any `<image>` tags in place; `audios` / `images` list files relative to the JSONL.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from datagen.export_media import dataset_rows, finish_target, prepare_target, split_of, write_jsonl, write_row_media
from datagen.records import MEDIA_TAG

# format → "module:writer"; a writer is `(root, split, target) -> (file it wrote, rows)`
WRITERS = {
    "swift": "datagen.export:write_swift",
    "trl": "datagen.export_trl:write_trl",
    "lhotse": "datagen.export_lhotse:write_lhotse",
    "nemo": "datagen.export_nemo:write_nemo",
}
FORMATS = tuple(WRITERS)


def export(root: Path, fmt: str, out: Path | None = None) -> Path:
    """Export the dataset at `root` as `fmt` into `out` (default `root/export/fmt`); returns the file written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    split = split_of(root)
    if out is None:
        target = prepare_target(root, root / "export" / fmt, inside=True)
    else:
        target = prepare_target(root, Path(out))
    module, name = WRITERS[fmt].split(":")
    path, rows = getattr(importlib.import_module(module), name)(root, split, target)
    finish_target(root, target, fmt, split, path, rows)
    return path


def swift_record(position: int, row: dict[str, Any], target: Path) -> dict[str, Any]:
    images, audios = write_row_media(target, position, row)
    messages = []
    for m in row["messages"]:
        content = m["content"]
        if m.get("audio") is not None:
            content = "".join(t.group(0) for t in MEDIA_TAG.finditer(content)) + "<audio>"
        messages.append({"role": m["role"], "content": content})
    record: dict[str, Any] = {"id": row["id"], "messages": messages}
    if "rejected" in row:  # DPO pairs: ms-swift's preference form
        record["rejected_response"] = row["rejected"]
    if images:
        record["images"] = images
    if audios:
        record["audios"] = audios
    return record


def write_swift(root: Path, split: str, target: Path) -> tuple[Path, int]:
    jsonl = target / f"{split}.jsonl"
    rows = write_jsonl(jsonl, (swift_record(pos, row, target) for pos, row in dataset_rows(root, split)))
    return jsonl, rows
