"""The output layout and its exactly-once shard commit.

```
out/data/train-00003-of-00010.parquet   kept records: `datasets` Image/Audio features, bytes embedded
out/rejects/rejects-00003-of-00010.parquet   every dropped or bad record with its reason
out/_shards/00003.json                   shard stats; written last, so its presence marks the shard done
```
Each file is written to a temporary name and renamed into place, so a crash at any point leaves either the
old state or the new one; a shard without its marker is simply redone, and since records are deterministic in
(seed, id) the redo gives the same records.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datagen.records import Rejected, Sample

CORE_FEATURES: dict[str, Any] = {}  # filled lazily: importing `datasets` costs ~1 s, which `validate` need not pay
_SHARD_FILE = re.compile(r"^([^-.][^-]*)-(\d+)-of-(\d+)\.parquet$")  # {split|rejects}-NNNNN-of-NNNNN.parquet


class LayoutError(FileNotFoundError):
    """A folder given as a finished dataset holds no data shards in datagen's layout."""


def core_features() -> dict[str, Any]:
    from datasets import Audio, Image, List, Value

    if not CORE_FEATURES:
        CORE_FEATURES.update(
            {
                "id": Value("string"),
                "messages": List({"role": Value("string"), "content": Value("string"), "audio": Value("int32")}),
                "images": List(Image()),
                "audios": List(Audio()),
                "source_file": Value("string"),
                "source_index": Value("int64"),
            }
        )
    return CORE_FEATURES


def data_features(meta_features: Mapping[str, Any]) -> Any:
    from datasets import Features

    return Features({**core_features(), **meta_features})


def rejects_features() -> Any:
    from datasets import Audio, Features, List, Value

    return Features(
        {
            "id": Value("string"),
            "reason": Value("string"),
            "step": Value("string"),
            "detail": Value("string"),
            "source_index": Value("int64"),
            "messages": core_features()["messages"],
            "audios": List(Audio()),
            "meta": Value("string"),  # JSON: scores and provenance at the time of the drop
            "raw": Value("string"),  # the source record as text, when it never became a sample
        }
    )


def shard_name(kind: str, split: str, index: int, count: int) -> str:
    prefix = split if kind == "data" else "rejects"
    return f"{prefix}-{index:05d}-of-{count:05d}.parquet"


def _messages(sample: Sample) -> list[dict[str, Any]]:
    return [{"role": m.role, "content": m.content, "audio": m.audio} for m in sample.messages]


def _audios(sample: Sample) -> list[dict[str, Any]]:
    return [{"bytes": a.to_wav_bytes(), "path": f"{sample.id}-{k}.wav"} for k, a in enumerate(sample.audios)]


def data_row(sample: Sample, meta_keys: Iterable[str]) -> dict[str, Any]:
    images = [{"bytes": im.data, "path": im.filename or f"{sample.id}-{k}.png"} for k, im in enumerate(sample.images)]
    row = {"id": sample.id, "messages": _messages(sample), "images": images, "audios": _audios(sample)}
    row["source_file"] = sample.meta.get("source_file")
    row["source_index"] = sample.meta.get("source_index")
    for key in meta_keys:
        row[key] = sample.meta.get(key)
    return row


def reject_row(rejected: Rejected) -> dict[str, Any]:
    sample = rejected.sample
    meta = dict(sample.meta) if sample else {}
    return {
        "id": rejected.id,
        "reason": rejected.reason,
        "step": rejected.step,
        "detail": rejected.detail,
        "source_index": meta.get("source_index"),
        "messages": _messages(sample) if sample else [],
        "audios": _audios(sample) if sample else [],
        "meta": json.dumps(meta, default=str, ensure_ascii=False),
        "raw": rejected.raw,
    }


def write_table(path: Path, rows: list[dict[str, Any]], features: Any) -> None:
    table = pa.Table.from_pylist(rows, schema=features.arrow_schema)

    def write(tmp: Path) -> None:
        # an empty shard gets no row group at all: readers (datasets) choke on a zero-row group
        # no dictionary encoding: media bytes are unique per row, so building a dictionary for them is wasted work
        # (it halves write time), and zstd already squeezes the few repeated strings (roles, file names)
        with pq.ParquetWriter(tmp, table.schema, compression="zstd", use_dictionary=False) as writer:
            if table.num_rows:
                writer.write_table(table)

    atomic_write(path, write)


def atomic_write(path: Path, write: Any) -> None:
    """`write(tmp_path)` then fsync and rename: readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # host + pid + random: a worker cut off from its scheduler may still be writing while the shard reruns elsewhere
    tmp = path.with_name(f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True, default=str)))


class OutputDir:
    """Names and commits the files of one run's output folder; `open` finds those of a finished one."""

    def __init__(self, root: Path, split: str = "train") -> None:
        self.root = root
        self.split = split

    @classmethod
    def open(cls, root: Path, split: str | None = None) -> OutputDir:
        """A finished dataset's layout: its split is the name its data shards carry (the first, if several)."""
        matches = (_SHARD_FILE.match(p.name) for p in sorted((root / "data").glob("*-of-*.parquet")))
        names = [m[1] for m in matches if m and split in (None, m[1])]
        if not names:
            raise LayoutError(
                f"{root}: no data/{split or '*'}-NNNNN-of-NNNNN.parquet shards; is this a folder datagen wrote?"
            )
        return cls(root, names[0])

    def data_path(self, index: int, count: int) -> Path:
        return self.root / "data" / shard_name("data", self.split, index, count)

    def rejects_path(self, index: int, count: int) -> Path:
        return self.root / "rejects" / shard_name("rejects", self.split, index, count)

    def marker(self, index: int) -> Path:
        return self.root / "_shards" / f"{index:05d}.json"

    def is_done(self, index: int, digest: str = "") -> bool:
        """The marker exists and, given the plan's digest of the shard's input, was written for that same input."""
        marker = self.marker(index)
        if not digest or not marker.exists():
            return marker.exists()
        try:
            return json.loads(marker.read_text()).get("input_digest") == digest
        except (OSError, ValueError):
            return False

    def commit(
        self,
        index: int,
        count: int,
        kept: list[Sample],
        rejected: list[Rejected],
        meta_features: Mapping[str, Any],
        stats: dict[str, Any],
    ) -> None:
        """Write one shard's data, rejects and stats; the stats file goes last and marks the shard done."""
        write_table(
            self.data_path(index, count), [data_row(s, meta_features) for s in kept], data_features(meta_features)
        )
        write_table(self.rejects_path(index, count), [reject_row(r) for r in rejected], rejects_features())
        write_json(self.marker(index), stats)

    def shard_stats(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.root / "_shards").glob("*.json"))]

    def clean_temporaries(self) -> None:
        for tmp in self.root.rglob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)

    def data_files(self) -> list[Path]:
        return [path for path, _, _ in self._shard_files("data", self.split)]

    def reject_files(self) -> list[Path]:
        return [path for path, _, _ in self._shard_files("rejects", "rejects")]

    def stray_files(self) -> list[Path]:
        """Parquet files in data/ that are not this split's shards (another split's, or foreign ones)."""
        shards = set(self.data_files())
        return [p for p in sorted((self.root / "data").glob("*.parquet")) if p not in shards]

    def shards(self) -> list[tuple[int, int]]:
        """(index, count) of every shard with a data or a rejects file (a shard that dropped all has no rows)."""
        found = {(i, n) for kind, prefix in (("data", self.split), ("rejects", "rejects"))
                 for _, i, n in self._shard_files(kind, prefix)}  # fmt: skip
        return sorted(found)

    def _shard_files(self, kind: str, prefix: str) -> list[tuple[Path, int, int]]:
        files = []
        for path in sorted((self.root / kind).glob(f"{prefix}-*-of-*.parquet")):
            if (match := _SHARD_FILE.match(path.name)) and match[1] == prefix:
                files.append((path, int(match[2]), int(match[3])))
        return files
