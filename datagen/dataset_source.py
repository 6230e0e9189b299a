"""A finished datagen dataset as a `Source`: what `datagen filter` runs through the normal `Pipeline`.

One shard per shard of the dataset (its data and rejects parquet files), read in (shard, row) order. The
carried-over rejects come first, as `Rejected` with their reason, so the new funnel still starts at the source
records; then each kept row as a `Sample` whose meta holds its provenance and every score column. Stored media
stay byte-for-byte: images keep their bytes and audio its stored WAV (`Audio.wav`). The folder is untrusted: a
row that cannot become a Sample is a reject (`audio_unreadable`), never an exception.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from datagen import registry
from datagen.manifest import SAMPLE_FIELDS
from datagen.readers import Plan, ShardSpec, Source, SourceError
from datagen.records import Audio, Image, Message, Rejected, Sample
from datagen.safe_yaml import read_yaml
from datagen.shards import LayoutError, OutputDir
from datagen.stats import add_figures
from datagen.steps import Step, StepConfig

log = logging.getLogger(__name__)
_BATCH_ROWS = 256


def sample_from_row(row: dict[str, Any], meta_keys: Sequence[str]) -> Sample | Rejected:
    """A data row (as `pyarrow` gives it) back into a Sample; meta holds provenance and every score column."""
    meta = {"source_file": row.get("source_file"), "source_index": row.get("source_index")}
    meta.update({key: row.get(key) for key in meta_keys})
    sample_id = str(row.get("id"))
    messages, images = _messages(row), _images(row)
    audios = []
    for k, audio in enumerate(row.get("audios") or []):
        try:
            audios.append(Audio.from_bytes((audio or {}).get("bytes"), keep=True))
        except (RuntimeError, TypeError, ValueError) as err:  # soundfile's errors are RuntimeErrors
            sample = Sample(id=sample_id, messages=messages, images=images, meta=meta)
            return Rejected(sample_id, "audio_unreadable", "read", f"audio {k}: {err}"[:500], sample=sample)
    return Sample(id=sample_id, messages=messages, images=images, audios=tuple(audios), meta=meta)


def rejected_from_row(row: dict[str, Any]) -> Rejected:
    """A rejects row back into the `Rejected` that wrote it, so the shard writer writes the same row again."""
    try:
        meta = json.loads(row.get("meta") or "{}")
    except (TypeError, ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict):  # not what datagen writes: kept as text rather than lost
        meta = {"unparsed_meta": str(row.get("meta"))[:2000]}
    audios = []
    for k, audio in enumerate(row.get("audios") or []):
        try:
            audios.append(Audio.from_bytes((audio or {}).get("bytes"), keep=True))
        except (RuntimeError, TypeError, ValueError) as err:
            log.warning("carried reject %s: audio %d unreadable, left out: %s", row.get("id"), k, err)
    sample = Sample(id=str(row.get("id")), messages=_messages(row), audios=tuple(audios), meta=meta)
    return Rejected(
        id=str(row.get("id")),
        reason=str(row.get("reason") or ""),
        step=str(row.get("step") or ""),
        detail=str(row.get("detail") or ""),
        sample=sample if meta or sample.messages or sample.audios else None,
        raw=str(row.get("raw") or ""),
    )


def _messages(row: dict[str, Any]) -> tuple[Message, ...]:
    return tuple(Message(m.get("role") or "", m.get("content"), m.get("audio")) for m in row.get("messages") or [] if m)


def _images(row: dict[str, Any]) -> tuple[Image, ...]:
    return tuple(
        Image(data=im.get("bytes"), filename=Path(im.get("path") or "").name) for im in row.get("images") or [] if im
    )


class DatasetSource(Source):
    """The data and rejects shards of a folder datagen wrote, found by `OutputDir.open`."""

    format = "datagen"

    def __init__(self, root: Path, split: str | None = None) -> None:
        super().__init__(root)
        try:
            self.layout = OutputDir.open(root, split)
        except LayoutError as err:
            raise SourceError(str(err)) from None
        self.split = self.layout.split
        from datasets import Features

        self.features = Features.from_arrow_schema(pq.read_schema(self.layout.data_files()[0]))
        self.meta_keys = [k for k in self.features if k not in SAMPLE_FIELDS]
        self.carried = sum(pq.ParquetFile(p).metadata.num_rows for p in self.layout.reject_files())
        self.reporters = self._source_steps()

    def meta_features(self) -> dict[str, Any]:
        return {key: self.features[key] for key in self.meta_keys}

    def plan(self, shard_size: int = 0, limit: int | None = None) -> Plan:
        """One shard per dataset shard (`shard_size` and `limit` do not apply: the dataset is already sharded)."""
        shards, start = [], 0
        for index, count in self.layout.shards():
            paths = (self.layout.data_path(index, count), self.layout.rejects_path(index, count))
            rows = sum(pq.ParquetFile(p).metadata.num_rows for p in paths if p.is_file())
            shards.append(ShardSpec(index, count, start, start + rows))
            start += rows
        return Plan(self.format, start, shards, fingerprint="")

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        rejects = self.layout.rejects_path(shard.index, shard.count)
        for row in _rows(rejects):
            yield rejected_from_row(row)
        for row in _rows(self.layout.data_path(shard.index, shard.count)):
            yield sample_from_row(row, self.meta_keys)

    def step_figures(self, kept: Sequence[Sample], rejected: Sequence[Rejected]) -> dict[str, Any]:
        """The source run's steps report on the records still kept (e.g. voices heard)."""
        figures: dict[str, Any] = {}
        for step in self.reporters:
            if found := step.stats_for_shard(kept, rejected):
                figures[step.name] = add_figures(figures.get(step.name, {}), found)
        return figures

    def manifest(self) -> dict[str, Any]:
        """The source run's resolved manifest, or a stand-in naming the folder when it has none (or a bad one)."""
        path = self.root / "manifest.yaml"
        try:
            base = read_yaml(path) if path.is_file() else None
        except (OSError, yaml.YAMLError):
            base = None
        return base if isinstance(base, dict) else {"input": {"path": str(self.root)}, "steps": []}

    def json(self, name: str) -> dict[str, Any]:
        path = self.root / name
        return json.loads(path.read_text()) if path.is_file() else {}

    def _source_steps(self) -> list[Step]:
        """The source run's steps, unconfigured: only to report their figures (`stats_for_shard`) on kept records."""
        steps = []
        for spec in self.manifest().get("steps") or []:
            name = spec.get("step") if isinstance(spec, dict) else None
            if isinstance(name, str) and name in registry.STEPS:
                cls = registry.step_class(name)
                step = cls.__new__(cls)
                Step.__init__(step, StepConfig())
                steps.append(step)
        return steps


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS):
        yield from batch.to_pylist()


def read_dataset(root: Path, split: str | None = None) -> Iterator[Sample | Rejected]:
    """Every kept row of a datagen dataset as a Sample, in (shard, row) order."""
    source = DatasetSource(root, split)
    for path in source.layout.data_files():
        for row in _rows(path):
            yield sample_from_row(row, source.meta_keys)
