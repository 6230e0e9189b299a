"""TRL export: conversational JSONL that TRL's trainers take as it is (`datasets.load_dataset("json", ...)`).

A dataset with a `rejected` column (the `dpo` step) becomes TRL's preference format: `prompt` (the turns before
the reply), `chosen` and `rejected` (one assistant turn each). Any other dataset (e.g. `cot` traces) becomes SFT
`messages`. Media are written beside the JSONL (`images/`, `audios/`, paths relative to it); when any record has
media, every turn's content uses TRL's typed parts (`{"type": "image"}`, `{"type": "text", "text": ...}`) so the
column has one type across the file, and `images` is cast to `datasets.Image()` by the reader:
`load_dataset("json", data_files=...)["train"].cast_column("images", Sequence(Image()))` after a chdir to the
export folder (or prefix the paths).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from datagen.export_media import dataset_rows, write_jsonl, write_row_media
from datagen.shards import OutputDir

_TAG = re.compile(r"<(image|audio)>")


def _parts(content: str) -> list[dict[str, Any]]:
    """ms-swift style `<image>`/`<audio>` tags → TRL typed parts, in order; media without tags are not guessed."""
    parts: list[dict[str, Any]] = []
    pos = 0
    for tag in _TAG.finditer(content):
        if text := content[pos : tag.start()]:
            parts.append({"type": "text", "text": text})
        parts.append({"type": tag.group(1), "text": None})
        pos = tag.end()
    if text := content[pos:]:
        parts.append({"type": "text", "text": text})
    return parts


def _turn(role: str, content: str, typed: bool) -> dict[str, Any]:
    return {"role": role, "content": _parts(content) if typed else _TAG.sub("", content)}


def trl_record(position: int, row: dict[str, Any], target: Path, typed: bool) -> dict[str, Any]:
    """One output row → a TRL record; media files written under `target`."""
    messages = [m for m in row["messages"] if m["content"] is not None]
    record: dict[str, Any] = {"id": row["id"]}
    if "rejected" in row:
        last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=len(messages))
        record["prompt"] = [_turn(m["role"], m["content"], typed) for m in messages[:last]]
        chosen = messages[last]["content"] if last < len(messages) else ""
        record["chosen"] = [_turn("assistant", chosen, typed)]
        record["rejected"] = [_turn("assistant", row["rejected"] or "", typed)]
    else:
        record["messages"] = [_turn(m["role"], m["content"], typed) for m in messages]
    if typed:
        record["images"], record["audios"] = write_row_media(target, position, row)
    return record


def write_trl(root: Path, split: str, target: Path) -> tuple[Path, int]:
    typed = any(_has_media(path) for path in OutputDir(root, split).data_files())
    jsonl = target / f"{split}.jsonl"
    rows = write_jsonl(jsonl, (trl_record(pos, row, target, typed) for pos, row in dataset_rows(root, split)))
    return jsonl, rows


def _has_media(path: Path) -> bool:
    table = pq.read_table(path, columns=["images", "audios"])
    return any(len(v or []) for col in ("images", "audios") for v in table.column(col).to_pylist())
