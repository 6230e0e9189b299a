"""What every export shares: the rows of a finished dataset, safe media file names, and the export folder.

Record ids come from the data and are hostile: `../../x`, `a/b`, 300 bytes, or the same id on two rows. So a media
file is never named after the id. Its name is the row's position in the export plus a short hash of the id
(`images/00000042-3f9a1c0e2b-0.png`): unique per row (two rows with one id keep their own media; that is the
duplicate-id policy, and `duplicate_ids` counts such rows in stats.json, the audit and export.json), bounded in
length, and the written path is checked to resolve inside the export folder (which also stops a symlinked
`images/` in a hostile dataset folder from redirecting writes).

An export folder holds an `export.json` marker; a non-empty folder without one is not ours and is refused, so an
export never overwrites files a user put there.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from datagen.shards import OutputDir, atomic_write, write_json

MARKER = "export.json"
_TAG = re.compile(r"<(image|video|audio)>")
MEDIA_DIRS = ("images", "audios")
# magic bytes → extension; anything else is written as `.img` (a trainer's image loader sniffs the bytes anyway)
_IMAGE_MAGIC = (
    (b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
    (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"),
)  # fmt: skip


class ExportError(ValueError):
    """The export cannot be written safely (a path escaping its folder, a folder that is not an export's)."""


def image_ext(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in _IMAGE_MAGIC if data.startswith(magic)), ".img")


def media_name(sub: str, position: int, rid: Any, k: int, ext: str) -> str:
    """`sub/PPPPPPPP-HHHHHHHHHH-k.ext`: row position + a 10-hex hash of the id; never the id itself."""
    digest = hashlib.sha256(str(rid).encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{sub}/{position:08d}-{digest}-{k}{ext}"


def write_media(target: Path, name: str, data: bytes) -> str:
    """Write `data` at `target/name` after checking the resolved path stays inside `target`; returns `name`."""
    path = target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    if not path.parent.resolve().is_relative_to(root) or path.is_symlink():
        raise ExportError(f"refusing to write {path}: it resolves outside the export folder {root}")
    path.write_bytes(data)
    return name


def write_row_media(target: Path, position: int, row: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A row's images and audios written under `target`; their names relative to it, in order."""
    audios = [
        write_media(target, media_name("audios", position, row["id"], k, ".wav"), au["bytes"])
        for k, au in enumerate(row.get("audios") or [])
    ]
    return write_row_images(target, position, row), audios


def write_row_images(target: Path, position: int, row: dict[str, Any]) -> list[str]:
    return [
        write_media(target, media_name("images", position, row["id"], k, image_ext(im["bytes"])), im["bytes"])
        for k, im in enumerate(row.get("images") or [])
    ]


def spoken_turns(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each turn of a row that has audio: its audio index and bytes, the text spoken (the TTS input's spoken form,
    else the turn's text without media tags), the turn as written, the reply that follows, its speech provenance."""
    messages, audios = row.get("messages") or [], row.get("audios") or []
    speech = [s if isinstance(s, dict) else {} for s in row.get("speech") or []]  # one entry per audio, in order
    for i, message in enumerate(messages):
        k = message.get("audio")
        if k is None or not 0 <= k < len(audios):
            continue
        written = _TAG.sub("", message.get("content") or "").strip()
        provenance = speech[k] if k < len(speech) else {}
        answer = next((m.get("content") for m in messages[i + 1 :] if m.get("role") == "assistant"), None)
        yield {
            "audio": k, "bytes": audios[k]["bytes"], "text": provenance.get("spoken_text") or written,
            "written": written, "answer": answer, "speech": provenance,
        }  # fmt: skip


def provenance_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The row's id, source and scalar score columns (e.g. `wer`): what a speech manifest line carries along."""
    skip = {"messages", "images", "audios", "speech"}
    return {k: v for k, v in row.items() if k not in skip and (v is None or isinstance(v, str | int | float | bool))}


def dataset_rows(root: Path, split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(position, row) over the data shards in order: the position names the row's media."""
    position = 0
    for path in OutputDir(root, split).data_files():
        for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
            for row in batch.to_pylist():
                yield position, row
                position += 1


def duplicate_ids(root: Path, split: str) -> int:
    """Kept rows whose id an earlier kept row already has (kept, each with its own media; counted, not hidden)."""
    seen: set[str] = set()
    dupes = 0
    for path in OutputDir(root, split).data_files():
        for rid in pq.read_table(path, columns=["id"]).column("id").to_pylist():
            dupes += rid in seen
            seen.add(rid)
    return dupes


def prepare_target(root: Path, target: Path, *, inside: bool = False) -> Path:
    """Make `target` ready for a fresh export of `root`: ours (marker) or empty, and apart from the dataset.

    `inside`: the default `root/export/FORMAT`, which must still be inside `root` once symlinks are resolved (a
    hostile dataset folder's `export` may be a link to anywhere)."""
    if inside and not target.resolve().is_relative_to(root.resolve()):
        raise ExportError(f"{target} resolves outside the dataset folder {root}; pass --out")
    root, target = root.resolve(), target.resolve()
    if target == root or root.is_relative_to(target):
        raise ExportError(f"export folder {target} must not contain the dataset {root}")
    if any(target.is_relative_to(root / name) for name in ("data", "rejects", "_shards")):
        raise ExportError(f"export folder {target} must not be inside the dataset's data folders")
    if target.exists() and any(target.iterdir()):
        if not (target / MARKER).is_file() and not _older_export(root, target):
            raise ExportError(f"{target} is not empty and holds no datagen export ({MARKER}); choose another --out")
        for sub in (*MEDIA_DIRS, "recordings"):  # our media from the previous export: stale names must not linger
            if (target / sub).is_dir() and not (target / sub).is_symlink():
                shutil.rmtree(target / sub)
    target.mkdir(parents=True, exist_ok=True)
    return target


def _older_export(root: Path, target: Path) -> bool:
    """The default folder of an export written before markers existed: only a JSONL, images/ and audios/."""
    if target.parent != root / "export":
        return False
    return all(p.name in MEDIA_DIRS or (p.suffix == ".jsonl" and p.is_file()) for p in target.iterdir())


def finish_target(root: Path, target: Path, fmt: str, split: str, manifest: Path, rows: int) -> None:
    """The marker: what this folder holds, so a later export may replace it and nothing else."""
    write_json(
        target / MARKER,
        {"format": fmt, "dataset": str(root.resolve()), "manifest": manifest.name, "rows": rows,
         "duplicate_ids": duplicate_ids(root, split)},
    )  # fmt: skip


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """One JSON object a line, atomically; returns how many."""
    count = 0

    def write(tmp: Path) -> None:
        nonlocal count
        with open(tmp, "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1

    atomic_write(path, write)
    return count


def split_of(root: Path) -> str:
    """The split a finished dataset's data shards are named after (`LayoutError` if it has none)."""
    return OutputDir.open(root).split


__all__ = [
    "ExportError", "dataset_rows", "duplicate_ids", "finish_target", "image_ext", "media_name", "prepare_target",
    "provenance_fields", "split_of", "spoken_turns", "write_jsonl", "write_media", "write_row_images",
    "write_row_media",
]  # fmt: skip
