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

import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from datagen.shards import OutputDir, atomic_write

_TAG = re.compile(r"<(image|audio)>")


def _image_ext(data: bytes) -> str:
    return ".png" if data.startswith(b"\x89PNG") else ".jpg" if data.startswith(b"\xff\xd8") else ".img"


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


def trl_record(row: dict[str, Any], target: Path, typed: bool) -> dict[str, Any]:
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
        record["images"] = _write_media(row.get("images") or [], target, "images", row["id"], _image_ext)
        record["audios"] = _write_media(row.get("audios") or [], target, "audios", row["id"], lambda _: ".wav")
    return record


def _write_media(items: list[dict[str, Any]], target: Path, sub: str, rid: str, ext: Any) -> list[str]:
    names = []
    for k, item in enumerate(items):
        name = f"{sub}/{re.sub(r'[^A-Za-z0-9_.-]', '_', rid)}-{k}{ext(item['bytes'])}"
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes(item["bytes"])
        names.append(name)
    return names


def export_trl(root: Path, split: str) -> Path:
    out = OutputDir(root, split)
    target = root / "export" / "trl"
    target.mkdir(parents=True, exist_ok=True)
    files = out.data_files()
    typed = any(_has_media(path) for path in files)
    jsonl = target / f"{split}.jsonl"

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for path in files:
                for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
                    for row in batch.to_pylist():
                        f.write(json.dumps(trl_record(row, target, typed), ensure_ascii=False) + "\n")

    atomic_write(jsonl, write)
    return jsonl


def _has_media(path: Path) -> bool:
    table = pq.read_table(path, columns=["images", "audios"])
    return any(len(v or []) for col in ("images", "audios") for v in table.column(col).to_pylist())
