"""Sources: vision-language SFT data in ms-swift JSONL, LLaVA JSON(L), parquet and `datasets` directories.

A source is planned into shards of record indices (with byte offsets for JSONL, so a worker seeks straight to
its shard) and read one shard at a time. Every record becomes a `Sample` or a `Rejected` with a reason; data is
untrusted: JSON only (nothing executed or unpickled), and media go through `datagen.media` (confined to the
media root, size-capped, allow-listed formats). A record that breaks any rule is a reject, never an exception
that ends the run. The plan carries a content hash of the input and of each shard, so a resume never mixes
output of two different inputs (file size and mtime are not enough: an edit can keep both).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen import layouts
from datagen.fingerprint import content_fingerprint, derived_digest, hasher
from datagen.media import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MAX_MEDIA_BYTES, MediaPolicy, RecordError, load_image
from datagen.records import Image, Rejected, Sample
from datagen.sanitize import checked_id, clean_text, record_id, valid_text

if TYPE_CHECKING:
    from datagen.manifest import InputConfig

__all__ = ["Plan", "RecordError", "ShardSpec", "Source", "SourceError", "open_input", "open_source"]
log = logging.getLogger(__name__)
_RAW_LIMIT = 4096
# what a hostile record can make parsing or conversion raise, besides RecordError: a reject, never a crash
_CHANGED = "changed since the run was planned; rerun with --overwrite to start over on the new input"
_DATA_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError, RecursionError, OverflowError)


class SourceError(ValueError):
    """The input as a whole is unusable (missing file, unknown format): raised before any work starts."""


@dataclass(slots=True, frozen=True)
class ShardSpec:
    index: int
    count: int  # number of shards in the run
    start: int  # first record index
    stop: int  # one past the last record index
    offset: int = 0  # byte offset of record `start` (JSONL)
    digest: str = ""  # content hash of this shard's input; a done marker holding another one is stale


@dataclass(slots=True, frozen=True)
class Plan:
    format: str
    total: int
    shards: list[ShardSpec]
    fingerprint: str  # content hash of the input, so a resume never mixes two inputs


class Source:
    """Base: `plan()` splits the input, `read(shard)` yields its records."""

    format = ""
    fields: dict[str, str] | None = None  # input.fields: column mapping for question/answer/passage/images/system

    def __init__(self, path: Path, media: MediaPolicy | None = None) -> None:
        self.path = path
        self.root = path.parent if path.is_file() else path
        self.media = media or MediaPolicy(self.root)

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        raise NotImplementedError

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        raise NotImplementedError

    def meta_features(self) -> dict[str, Any]:
        """Score columns the records already carry (a finished dataset's), kept in the output; raw inputs: none."""
        return {}

    def step_figures(self, kept: Sequence[Sample], rejected: Sequence[Rejected]) -> dict[str, Any]:
        """Step figures for a shard from steps that ran before this source was written (see `Step.stats_for_shard`)."""
        return {}

    def _fingerprint(self) -> str:
        return content_fingerprint(self.path, self.root)

    def _shards(
        self,
        starts: list[tuple[int, int]],
        total: int,
        shard_size: int,
        digests: list[Any] | None = None,
        fingerprint: str = "",
    ) -> Plan:
        """`starts` holds (record index, byte offset) at each shard boundary; `digests` each shard's hasher.

        Without per-shard hashes (JSON array, parquet), a shard's digest derives from the whole input's hash.
        """
        fingerprint = fingerprint or self._fingerprint()
        count = len(starts)
        shards = []
        for i, (start, offset) in enumerate(starts):
            stop = min(start + shard_size, total)
            digest = digests[i].hexdigest() if digests else derived_digest(fingerprint, start, stop)
            shards.append(ShardSpec(i, count, start, stop, offset, digest))
        return Plan(self.format, total, shards, fingerprint)

    # -- turning one parsed record into a Sample ------------------------------------------------------------

    def to_sample(self, record: Any, index: int) -> Sample:
        if not isinstance(record, dict):
            raise RecordError("malformed_record", f"expected a JSON object, got {type(record).__name__}")
        sample_id = checked_id(record, f"{self._stem()}-{index:07d}")
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
        """A path (under the media root), data URI or `{bytes, path}` struct: see `datagen.media`."""
        return load_image(ref, self.media)

    def _convert(self, record: Any, index: int, raw: str) -> Sample | Rejected:
        """The isolation boundary of reading: whatever a record holds, it leaves as a Sample or a Rejected."""
        try:
            return valid_text(self.to_sample(record, index))
        except RecordError as err:
            return self._reject(record, index, err.reason, err.detail, raw)
        except _DATA_ERRORS as err:
            log.warning("record %d of %s: unexpected %s", index, self.path.name, type(err).__name__, exc_info=True)
            return self._reject(record, index, "malformed_record", f"unexpected {type(err).__name__}: {err}", raw)

    def _reject(self, record: Any, index: int, reason: str, detail: str, raw: str) -> Rejected:
        rid = (record_id(record) if isinstance(record, dict) else "") or f"{self._stem()}-{index:07d}"
        return Rejected(
            id=rid, reason=reason, step="read", detail=clean_text(detail[:2000]), raw=clean_text(raw[:_RAW_LIMIT])
        )


class JsonlSource(Source):
    """One JSON object per line (ms-swift or LLaVA records); blank lines are not records."""

    format = "jsonl"

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        """One pass over the bytes: shard boundaries, a hash per shard and the hash of the whole input."""
        starts: list[tuple[int, int]] = []
        digests: list[Any] = []
        whole = hasher()
        whole.update(self.path.name.encode() + b"\0")
        total = 0
        offset = 0
        with self.path.open("rb") as f:
            for line in f:
                if line.strip():
                    if limit is not None and total >= limit:
                        break
                    if total % shard_size == 0:
                        starts.append((total, offset))
                        digests.append(hasher())
                    digests[-1].update(line)
                    total += 1
                whole.update(line)
                offset += len(line)
        return self._shards(starts, total, shard_size, digests, f"blake2b:{whole.hexdigest()}")

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        """The shard's records; if its bytes no longer hash to the plan's digest, the input changed: stop loudly."""
        index = shard.start
        seen = hasher()
        with self.path.open("rb") as f:
            f.seek(shard.offset)
            for line in f:
                if index >= shard.stop:
                    break
                if not line.strip():
                    continue
                seen.update(line)
                yield self._parse(line, index)
                index += 1
        if shard.digest and seen.hexdigest() != shard.digest:
            raise SourceError(f"{self.path}: shard {shard.index} {_CHANGED}")

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
        except (ValueError, RecursionError) as err:  # an integer of over 4300 digits; nesting deeper than the stack
            detail = "nested too deeply" if isinstance(err, RecursionError) else str(err)
            return self._reject(None, index, "malformed_record", detail, text)
        return self._convert(record, index, text)


class JsonArraySource(Source):
    """A JSON array of records (LLaVA's format). Parsed whole: such files fit in memory by construction."""

    format = "json"

    @cached_property
    def _loaded(self) -> tuple[list[Any], str]:
        """Parsed (and hashed) once per process: every shard of the run reads from the same list."""
        raw = self.path.read_bytes()
        digest = hasher()
        digest.update(self.path.name.encode() + b"\0" + raw)
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise SourceError(f"{self.path}: not valid JSON ({err}); use .jsonl for one record per line") from err
        except (ValueError, RecursionError) as err:  # the file parses whole: one hostile record sinks it
            why = "nested too deeply" if isinstance(err, RecursionError) else str(err)
            raise SourceError(f"{self.path}: cannot parse ({why}); use .jsonl to isolate bad records") from None
        if not isinstance(data, list):
            raise SourceError(f"{self.path}: expected a JSON array of records")
        return data, f"blake2b:{digest.hexdigest()}"

    @property
    def _records(self) -> list[Any]:
        return self._loaded[0]

    def _fingerprint(self) -> str:
        return self._loaded[1]

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        total = len(self._records)
        total = min(total, limit) if limit else total
        return self._shards([(s, 0) for s in range(0, total, shard_size)], total, shard_size)

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        records = self._records
        if shard.digest and derived_digest(self._fingerprint(), shard.start, shard.stop) != shard.digest:
            raise SourceError(f"{self.path}: {_CHANGED}")
        for index in range(shard.start, shard.stop):
            record = records[index]
            yield self._convert(record, index, _raw_text(record))


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
        return self._shards([(s, 0) for s in range(0, total, shard_size)], total, shard_size)

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        import pyarrow as pa

        table = self._dataset.take(pa.array(range(shard.start, shard.stop)))
        for offset, row in enumerate(table.to_pylist()):
            if "image" in row and "images" not in row and "conversations" not in row:
                row["images"] = row.pop("image")
            raw = _raw_text({k: v for k, v in row.items() if k not in ("images", "image")})
            yield self._convert(row, shard.start + offset, raw)


def _raw_text(record: Any) -> str:
    """A record as JSON text for its reject row; a record too deep to serialise keeps no raw text."""
    try:
        return json.dumps(record, ensure_ascii=False, default=str)[:_RAW_LIMIT]
    except (ValueError, RecursionError):
        return ""


def open_input(config: InputConfig) -> Source:
    """The source a manifest's `input:` section describes."""
    source = open_source(
        config.path,
        config.format,
        allow_outside_paths=config.allow_outside_paths,
        media_root=config.media_root,
        max_media_bytes=config.max_media_bytes,
        max_image_pixels=config.max_image_pixels,
    )
    source.fields = config.fields
    return source


def open_source(
    path: Path,
    fmt: str = "auto",
    *,
    allow_outside_paths: bool = False,
    media_root: Path | None = None,
    max_media_bytes: int = DEFAULT_MAX_MEDIA_BYTES,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> Source:
    """`media_root`: where relative media paths resolve (default: the data file's folder)."""
    from datagen.webdataset_source import WebDatasetSource, is_tar_input

    if media_root is not None and not media_root.is_dir():
        raise SourceError(f"{media_root}: media root not found (--media-root / input.media_root)")
    if fmt == "webdataset" or (fmt == "auto" and is_tar_input(path)):
        root = media_root or (path if path.is_dir() else path.parent)
        return WebDatasetSource(path, MediaPolicy(root, allow_outside_paths, max_media_bytes, max_image_pixels))
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
    root = media_root or (path.parent if path.is_file() else path)
    return cls(path, MediaPolicy(root, allow_outside_paths, max_media_bytes, max_image_pixels))
