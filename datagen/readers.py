"""Sources: vision-language SFT data in ms-swift JSONL, LLaVA JSON(L), parquet and `datasets` directories.

A source is planned into shards of record indices (with byte offsets for JSONL, so a worker seeks straight to
its shard) and read one shard at a time. Every record becomes a `Sample` or a `Rejected` with a reason; data is
untrusted: JSON only (nothing executed or unpickled), and media paths may not leave the data file's folder
unless the manifest allows it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from datagen import layouts
from datagen.records import Image, Rejected, Sample

MEDIA_TAGS = ("<image>", "<audio>", "<video>")
_RAW_LIMIT = 4096


class SourceError(ValueError):
    """The input as a whole is unusable (missing file, unknown format): raised before any work starts."""


class RecordError(ValueError):
    """One record is bad; `reason` is the stable snake_case drop reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True, frozen=True)
class ShardSpec:
    index: int
    count: int  # number of shards in the run
    start: int  # first record index
    stop: int  # one past the last record index
    offset: int = 0  # byte offset of record `start` (JSONL)


@dataclass(slots=True, frozen=True)
class Plan:
    format: str
    total: int
    shards: list[ShardSpec]
    fingerprint: str  # changes when the input changes, so a resume never mixes two inputs


class Source:
    """Base: `plan()` splits the input, `read(shard)` yields its records."""

    format = ""
    fields: dict[str, str] | None = None  # input.fields: column mapping for question/answer/passage/images/system

    def __init__(self, path: Path, *, allow_outside_paths: bool = False) -> None:
        self.path = path
        self.root = path.parent if path.is_file() else path
        self.allow_outside_paths = allow_outside_paths

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        raise NotImplementedError

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        raise NotImplementedError

    def _fingerprint(self) -> str:
        files = sorted(self.path.rglob("*")) if self.path.is_dir() else [self.path]
        return ";".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files if f.is_file())

    def _shards(self, starts: list[tuple[int, int]], total: int, shard_size: int, fmt: str) -> Plan:
        """`starts` holds (record index, byte offset) at each shard boundary."""
        count = len(starts)
        shards = [
            ShardSpec(i, count, start, min(start + shard_size, total), offset)
            for i, (start, offset) in enumerate(starts)
        ]
        return Plan(fmt, total, shards, self._fingerprint())

    # -- turning one parsed record into a Sample ------------------------------------------------------------

    def to_sample(self, record: Any, index: int) -> Sample:
        if not isinstance(record, dict):
            raise RecordError("malformed_record", f"expected a JSON object, got {type(record).__name__}")
        sample_id = record.get("id")
        sample_id = (
            str(sample_id) if isinstance(sample_id, str | int) and str(sample_id) else f"{self._stem()}-{index:07d}"
        )
        try:
            parsed = layouts.parse(record, self.fields)
        except layouts.LayoutError as err:
            raise RecordError(err.reason, err.detail) from None
        meta: dict[str, Any] = {"source_file": self.path.name, "source_index": index, **parsed.meta}
        return Sample(
            id=sample_id,
            messages=tuple(parsed.messages),
            images=tuple(self._image(ref) for ref in parsed.images),
            meta=meta,
        )

    def _stem(self) -> str:
        return self.path.stem if self.path.is_file() else self.path.name

    def _image(self, ref: Any) -> Image:
        if isinstance(ref, dict) and ref.get("bytes"):
            return _checked_image(Image(data=bytes(ref["bytes"]), filename=Path(str(ref.get("path") or "")).name))
        if isinstance(ref, dict):
            ref = ref.get("path")
        if not isinstance(ref, str) or not ref:
            raise RecordError("malformed_record", f"image reference must be a path or bytes, got {ref!r:.80}")
        return _checked_image(Image.from_path(self.resolve_media(ref)))

    def resolve_media(self, ref: str) -> Path:
        """A media path from data, refused if it is remote or leaves the data folder (unless allowed)."""
        if "://" in ref:
            raise RecordError("media_remote", f"{ref!r:.200} is a URL; datagen reads local files only")
        path = Path(ref)
        resolved = (self.root / path).resolve()
        if not self.allow_outside_paths and (path.is_absolute() or not resolved.is_relative_to(self.root.resolve())):
            raise RecordError("media_path_outside", f"{ref!r:.200} leaves the data folder (input.allow_outside_paths)")
        if not resolved.is_file():
            raise RecordError("image_missing", f"{ref!r:.200} not found")
        return resolved

    def _convert(self, record: Any, index: int, raw: str) -> Sample | Rejected:
        try:
            return self.to_sample(record, index)
        except RecordError as err:
            rid = (_record_id(record) if isinstance(record, dict) else "") or f"{self._stem()}-{index:07d}"
            return Rejected(id=rid, reason=err.reason, step="read", detail=err.detail, raw=raw[:_RAW_LIMIT])


def _record_id(record: dict[str, Any]) -> str:
    value = record.get("id")
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _checked_image(image: Image) -> Image:
    """Decode once now, so a corrupt file is a reject here rather than a crash in a model or a trainer."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(image.data)) as img:
            img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise RecordError("image_unreadable", f"{image.filename}: {err}") from err
    return image


class JsonlSource(Source):
    """One JSON object per line (ms-swift or LLaVA records); blank lines are not records."""

    format = "jsonl"

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        starts: list[tuple[int, int]] = []
        total = 0
        offset = 0
        with self.path.open("rb") as f:
            for line in f:
                if line.strip():
                    if limit is not None and total >= limit:
                        break
                    if total % shard_size == 0:
                        starts.append((total, offset))
                    total += 1
                offset += len(line)
        return self._shards(starts, total, shard_size, self.format)

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        index = shard.start
        with self.path.open("rb") as f:
            f.seek(shard.offset)
            for line in f:
                if index >= shard.stop:
                    break
                if not line.strip():
                    continue
                yield self._parse(line, index)
                index += 1

    def _parse(self, line: bytes, index: int) -> Sample | Rejected:
        rid = f"{self._stem()}-{index:07d}"
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raw = line.decode("utf-8", errors="replace")
            return Rejected(id=rid, reason="invalid_utf8", step="read", detail=str(err), raw=raw[:_RAW_LIMIT])
        try:
            record = json.loads(text)
        except json.JSONDecodeError as err:
            return Rejected(id=rid, reason="invalid_json", step="read", detail=str(err), raw=text[:_RAW_LIMIT])
        return self._convert(record, index, text)


class JsonArraySource(Source):
    """A JSON array of records (LLaVA's format). Parsed whole: such files fit in memory by construction."""

    format = "json"

    @cached_property
    def _records(self) -> list[Any]:
        """Parsed once per process: every shard of the run reads from the same list."""
        try:
            data = json.loads(self.path.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise SourceError(f"{self.path}: not valid JSON ({err}); use .jsonl for one record per line") from err
        if not isinstance(data, list):
            raise SourceError(f"{self.path}: expected a JSON array of records")
        return data

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        total = len(self._records)
        total = min(total, limit) if limit else total
        return self._shards([(s, 0) for s in range(0, total, shard_size)], total, shard_size, self.format)

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        records = self._records
        for index in range(shard.start, shard.stop):
            record = records[index]
            yield self._convert(record, index, json.dumps(record, ensure_ascii=False, default=str))


class ArrowSource(Source):
    """Parquet files (a file or a folder of them) or a `datasets.save_to_disk` folder, read without decoding."""

    format = "parquet"

    @cached_property
    def _dataset(self) -> Any:
        """Discovered once per process (file listing, or mapping a save_to_disk folder), then read per shard."""
        import pyarrow.dataset as pads

        if self.path.is_dir() and (self.path / "dataset_info.json").exists():
            from datasets import load_from_disk  # save_to_disk writes Arrow *streams*: let datasets map them

            return pads.dataset(load_from_disk(str(self.path)).data.table)
        files = sorted(self.path.rglob("*.parquet")) if self.path.is_dir() else [self.path]
        if not files:
            raise SourceError(f"{self.path}: no .parquet files")
        return pads.dataset([str(p) for p in files], format="parquet")

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        total = self._dataset.count_rows()
        total = min(total, limit) if limit else total
        return self._shards([(s, 0) for s in range(0, total, shard_size)], total, shard_size, self.format)

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        import pyarrow as pa

        table = self._dataset.take(pa.array(range(shard.start, shard.stop)))
        for offset, row in enumerate(table.to_pylist()):
            if "image" in row and "images" not in row and "conversations" not in row:
                row["images"] = row.pop("image")
            raw = json.dumps({k: v for k, v in row.items() if k not in ("images", "image")}, default=str)
            yield self._convert(row, shard.start + offset, raw)


def open_input(config: Any) -> Source:
    """The source a manifest's `input:` section describes."""
    source = open_source(config.path, config.format, allow_outside_paths=config.allow_outside_paths)
    source.fields = getattr(config, "fields", None)
    return source


def open_source(path: Path, fmt: str = "auto", *, allow_outside_paths: bool = False) -> Source:
    from datagen.webdataset_source import WebDatasetSource, is_tar_input

    if fmt == "webdataset" or (fmt == "auto" and is_tar_input(path)):
        return WebDatasetSource(path, allow_outside_paths=allow_outside_paths)
    if not path.exists():
        raise SourceError(f"{path}: input not found")
    if fmt == "auto":
        if path.is_dir() or path.suffix == ".parquet":
            fmt = "parquet"
        elif path.suffix in (".jsonl", ".ndjson"):
            fmt = "swift"
        elif path.suffix == ".json":
            fmt = "llava"
        else:
            raise SourceError(
                f"{path}: cannot tell the format from the name; set input.format: swift|llava|parquet|webdataset"
            )
    if fmt in ("parquet", "hf"):
        cls: type[Source] = ArrowSource
    elif fmt == "llava" and path.suffix == ".json":
        cls = JsonArraySource
    else:  # ms-swift JSONL, or LLaVA records one per line: told apart per record by their keys
        cls = JsonlSource
    return cls(path, allow_outside_paths=allow_outside_paths)
