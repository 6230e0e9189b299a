"""Exports of a finished dataset to trainers' own formats. ms-swift JSONL: media written beside the JSONL.

In the swift export a spoken turn's text is replaced by an `<audio>` tag (the model hears the query rather than
reading it), keeping any `<image>` tags in place; `audios` / `images` list files relative to the JSONL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from datagen.records import MEDIA_TAG
from datagen.shards import OutputDir, atomic_write

FORMATS = ("swift", "trl")


def export(root: Path, fmt: str) -> Path:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    if fmt == "trl":
        from datagen.export_trl import export_trl

        return export_trl(root, _split(root))
    return export_swift(root)


def _image_ext(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data.startswith(b"\xff\xd8"):
        return ".jpg"
    return ".img"


def swift_record(row: dict[str, Any], media_dir: Path, rel: Path) -> dict[str, Any]:
    images, audios = [], []
    for k, image in enumerate(row["images"] or []):
        name = f"images/{row['id']}-{k}{_image_ext(image['bytes'])}"
        (media_dir / name).write_bytes(image["bytes"])
        images.append(str(rel / name))
    for k, audio in enumerate(row["audios"] or []):
        name = f"audios/{row['id']}-{k}.wav"
        (media_dir / name).write_bytes(audio["bytes"])
        audios.append(str(rel / name))
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


def export_swift(root: Path) -> Path:
    out = OutputDir(root, _split(root))
    target = root / "export" / "swift"
    for sub in ("images", "audios"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    jsonl = target / f"{out.split}.jsonl"

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            for path in out.data_files():
                for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
                    for row in batch.to_pylist():
                        f.write(json.dumps(swift_record(row, target, Path(".")), ensure_ascii=False) + "\n")

    atomic_write(jsonl, write)
    return jsonl


def _split(root: Path) -> str:
    names = sorted((root / "data").glob("*-of-*.parquet"))
    if not names:
        raise FileNotFoundError(f"{root}: no data/*.parquet shards; is this a datagen output folder?")
    return names[0].name.split("-")[0]
