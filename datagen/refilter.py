"""`datagen filter DATASET --manifest curate.yaml --out NEW`: re-apply filter steps to a finished dataset.

Thresholds are separate from scoring so they can change without model time: this reads a dataset written by
datagen back into Samples, runs only filters (steps that need no backend), and writes a new dataset in the same
layout. Kept rows keep their stored image and audio bytes untouched (only the score columns are added); rows a
filter now drops go to `rejects/` with their reason, next to the rejects carried over from the source, so the
funnel in `stats.json` still starts at the source records.

Samples go through the filters one at a time in (shard, row) order in this one process, which makes stateful
filters global and deterministic: `dedup` keeps the first occurrence in that order across the whole dataset.

A curate manifest is the run manifest without input, output and backends (they come from the command):

```yaml
name: demo-curated
steps:
  - {step: text_sanity}
  - {step: dedup, near_threshold: 0.9}
```
The written `manifest.yaml` is the source run's manifest with these steps appended (its full provenance).
"""

from __future__ import annotations

import difflib
import json
import logging
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from datagen import __version__, registry
from datagen.card import drop_examples
from datagen.manifest import (
    CORE_FIELDS,
    ManifestError,
    content_hash,
    format_errors,
    read_yaml_mapping,
    tagged_union,
)
from datagen.pipeline import numeric_values
from datagen.readers import SourceError
from datagen.records import Audio, Image, Message, Rejected, Sample
from datagen.run import RunMismatchError
from datagen.safe_yaml import read_yaml
from datagen.shards import data_features, reject_row, rejects_features, shard_name, write_json, write_table
from datagen.stats import add_figures, merge
from datagen.steps import Filter, Step, StepConfig

log = logging.getLogger(__name__)

TOP_KEYS = ("name", "description", "seed", "on_error", "steps")
_OUTPUT_FILES = ("stats.json", "manifest.yaml", "run.json", "README.md")
_OUTPUT_DIRS = ("data", "rejects", "_shards", "export")


def filter_names() -> list[str]:
    """Registered steps that `datagen filter` may run: filters that call no backend (so no model)."""
    return [name for name in registry.STEPS if _is_plain_filter(registry.step_class(name))]


def _is_plain_filter(cls: type[Step]) -> bool:
    return issubclass(cls, Filter) and not cls.uses


class _CurateBase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = 0
    on_error: Literal["skip", "raise"] = "skip"


@cache
def _curate_model() -> type[BaseModel]:
    names = filter_names()
    union = tagged_union(names, lambda name: registry.step_class(name).Config, "step")
    return create_model("CurateManifest", __base__=_CurateBase, steps=(list[union], Field(min_length=1)))


def load_curate_manifest(path: str | Path) -> Any:
    """Read and validate a filter-only manifest; every problem is a ManifestError naming the key and the options."""
    path = Path(path)
    data = read_yaml_mapping(path, f"a curate manifest is a YAML mapping with keys {', '.join(TOP_KEYS)}")
    problems = []
    for key in data:
        if key in ("input", "output", "backends"):
            problems.append(
                f"  {key}: not used by `datagen filter`, which reads DATASET, writes --out and runs no model; remove it"
            )
        elif key not in TOP_KEYS:
            close = difflib.get_close_matches(str(key), TOP_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"  {key}: unknown key{hint}; valid keys: {', '.join(TOP_KEYS)}")
    allowed = filter_names()
    steps = data.get("steps")
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        name = step.get("step") if isinstance(step, dict) else None
        if name in registry.STEPS and name not in allowed:
            problems.append(
                f"  steps.{i}: {name!r} needs models (backends), and `datagen filter` runs filters only; "
                f"filters: {', '.join(allowed)}"
            )
    if problems:
        raise ManifestError("\n".join([f"{path}: {len(problems)} problem(s) in the curate manifest", *problems]))
    try:
        return _curate_model().model_validate(data)
    except ValidationError as err:
        raise ManifestError(format_errors(path, err)) from None


# --- reading a dataset back --------------------------------------------------------------------------------------


def sample_from_row(row: dict[str, Any], meta_keys: list[str]) -> Sample | Rejected:
    """A data row (as `pyarrow` gives it) back into a Sample; meta holds provenance and every score column."""
    meta = {"source_file": row.get("source_file"), "source_index": row.get("source_index")}
    meta.update({key: row.get(key) for key in meta_keys})
    sample_id = str(row.get("id"))
    messages = tuple(
        Message(m.get("role") or "", m.get("content"), m.get("audio")) for m in row.get("messages") or [] if m
    )
    images = tuple(
        Image(data=im.get("bytes"), filename=Path(im.get("path") or "").name) for im in row.get("images") or [] if im
    )
    audios = []
    for k, audio in enumerate(row.get("audios") or []):
        try:
            audios.append(Audio.from_bytes((audio or {}).get("bytes")))
        except (RuntimeError, TypeError, ValueError) as err:  # soundfile's errors are RuntimeErrors
            sample = Sample(id=sample_id, messages=messages, images=images, meta=meta)
            return Rejected(sample_id, "audio_unreadable", "read", f"audio {k}: {err}"[:500], sample=sample)
    return Sample(id=sample_id, messages=messages, images=images, audios=tuple(audios), meta=meta)


def read_dataset(root: Path, split: str | None = None) -> Iterator[Sample | Rejected]:
    """Every kept row of a datagen dataset as a Sample, in (shard, row) order."""
    source = _Dataset(root, split)
    for path in source.data_files:
        for row in pq.read_table(path).to_pylist():
            yield sample_from_row(row, source.meta_keys)


class _Dataset:
    """The files of a datagen output folder, found by its naming scheme."""

    def __init__(self, root: Path, split: str | None = None) -> None:
        self.root = root
        files = sorted((root / "data").glob(f"{split or '*'}-*-of-*.parquet"))
        if not files:
            raise SourceError(f"{root}: no data/*-of-*.parquet shards; is this a folder datagen wrote?")
        self.split = split or files[0].name.split("-")[0]
        self.data_files = [f for f in files if f.name.split("-")[0] == self.split]
        from datasets import Features

        self.features = Features.from_arrow_schema(pq.read_schema(self.data_files[0]))
        self.meta_keys = [k for k in self.features if k not in CORE_FIELDS]

    def shards(self) -> list[tuple[int, int]]:
        """(index, count) of every shard that has a data or a rejects file."""
        found = set()
        for path in [*self.data_files, *sorted((self.root / "rejects").glob("rejects-*-of-*.parquet"))]:
            parts = path.stem.split("-")
            found.add((int(parts[-3]), int(parts[-1])))
        return sorted(found)

    def path(self, kind: str, index: int, count: int) -> Path:
        return self.root / kind / shard_name(kind, self.split, index, count)

    def json(self, name: str) -> dict[str, Any]:
        path = self.root / name
        return json.loads(path.read_text()) if path.is_file() else {}


# --- running the filters --------------------------------------------------------------------------------------


def refilter(dataset: Path, manifest: Any, out: Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Filter `dataset` into `out` (same layout) and return the new stats."""
    dataset, out = dataset.resolve(), out.resolve()
    source = _Dataset(dataset)
    steps = [registry.step_class(cfg.step)(cfg, seed=manifest.seed) for cfg in manifest.steps]
    _check_reads(source, steps)
    _prepare(dataset, out, overwrite)
    features = data_features({k: source.features[k] for k in source.meta_keys} | _step_features(steps))
    meta_keys = [k for k in features if k not in CORE_FIELDS]
    for step in steps:
        step.setup({})
    reporters = [*_source_steps(source), *steps]
    shard_stats = []
    try:
        for index, count in source.shards():
            for step in steps:
                step.tally.clear()
            stats, kept, rejected = _filter_shard(source, index, count, steps, manifest, out, features, meta_keys)
            for step in reporters:  # the source run's steps report on the records still kept (e.g. voices)
                if figures := step.stats_for_shard(kept, rejected):
                    stats["steps"][step.name] = add_figures(stats["steps"].get(step.name, {}), figures)
            write_json(out / "_shards" / f"{index:05d}.json", stats)
            shard_stats.append(stats)
    finally:
        for step in steps:
            step.teardown()
    return _finish(source, manifest, out, shard_stats)


def _check_reads(source: _Dataset, steps: list[Step]) -> None:
    available = set(CORE_FIELDS) | set(source.meta_keys)
    for i, step in enumerate(steps):
        missing = [key for key in step.reads if key not in available]
        if missing:
            raise ManifestError(
                f"steps.{i} ({step.name}) reads {missing}, which {source.root} does not have and no earlier step "
                f"writes; its columns: {', '.join(sorted(available))}"
            )
        available.update(step.writes)


def _step_features(steps: list[Step]) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for step in steps:
        features.update(step.features())
    return features


def _prepare(dataset: Path, out: Path, overwrite: bool) -> None:
    if out == dataset or dataset.is_relative_to(out) or out.is_relative_to(dataset):
        raise RunMismatchError(f"--out {out} must be a folder apart from the dataset {dataset}")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise RunMismatchError(f"{out} is not empty; choose another --out or pass --overwrite")
        for name in _OUTPUT_DIRS:
            shutil.rmtree(out / name, ignore_errors=True)
        for name in _OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _run_one(step: Step, sample: Sample, on_error: str) -> Sample | Rejected:
    """Like the pipeline's isolation boundary: a filter raising on one record rejects that record only."""
    try:
        return step.process([sample])[0]
    except Exception as err:
        if on_error == "raise":
            raise
        log.warning("step %s failed on %s: %r", step.name, sample.id, err)
        return step.reject(sample, "step_error", f"{type(err).__name__}: {err}"[:1000])


def _filter_shard(
    source: _Dataset,
    index: int,
    count: int,
    steps: list[Step],
    manifest: Any,
    out: Path,
    features: Any,
    meta_keys: list[str],
) -> tuple[dict[str, Any], list[Sample], list[Rejected]]:
    started = time.perf_counter()
    data_path, rejects_path = source.path("data", index, count), source.path("rejects", index, count)
    rows = pq.read_table(data_path).to_pylist() if data_path.is_file() else []
    old_rejects = pq.read_table(rejects_path).to_pylist() if rejects_path.is_file() else []
    kept_rows: list[dict[str, Any]] = []
    kept: list[Sample] = []
    rejected: list[Rejected] = []
    step_seconds: dict[str, float] = defaultdict(float)
    for row in rows:
        item: Sample | Rejected = sample_from_row(row, source.meta_keys)
        for step in steps:
            if isinstance(item, Rejected):
                break
            t0 = time.perf_counter()
            item = _run_one(step, item, manifest.on_error)
            step_seconds[step.name] += time.perf_counter() - t0
        if isinstance(item, Rejected):
            rejected.append(item)
        else:  # stored media bytes are written back untouched; only the score columns change
            kept.append(item)
            kept_rows.append({**row, **{k: item.meta.get(k) for k in meta_keys}})
    write_table(out / "data" / data_path.name, kept_rows, features)
    new_rejects = [reject_row(r) for r in rejected]
    write_table(out / "rejects" / rejects_path.name, old_rejects + new_rejects, rejects_features())
    reasons = Counter(f"{r['step']}:{r['reason']}" for r in old_rejects + new_rejects)
    old_meta = [json.loads(r["meta"]) if r.get("meta") else {} for r in old_rejects]
    stats = {
        "shard": index,
        "records": len(rows) + len(old_rejects),
        "seen": len(rows) + len(old_rejects),
        "kept": len(kept),
        "newly_dropped": len(rejected),
        "dropped": dict(sorted(reasons.items())),
        "wall_seconds": round(time.perf_counter() - started, 4),
        "setup_seconds": 0.0,
        "step_seconds": {k: round(v, 4) for k, v in step_seconds.items()},
        "backend_seconds": {},
        "values": {
            "kept": numeric_values([s.meta for s in kept]),
            "dropped": numeric_values(old_meta + [r.sample.meta for r in rejected if r.sample]),
            "audio_seconds": [round(a.duration, 3) for s in kept for a in s.audios],
        },
        "steps": {},
    }
    return stats, kept, rejected


def _finish(source: _Dataset, manifest: Any, out: Path, shard_stats: list[dict[str, Any]]) -> dict[str, Any]:
    old_stats = source.json("stats.json")
    combined = _combined_manifest(source, manifest, out)
    digest = content_hash(combined)
    seen = sum(s["seen"] for s in shard_stats)
    stats = {"manifest_hash": digest, "name": manifest.name, **merge(shard_stats, total=old_stats.get("records", seen))}
    kept = stats["kept"]
    # No model ran here: the model time is what made the source data, now spread over the records still kept.
    stats["backend_seconds"] = {
        name: {**b, "seconds_per_kept": round(b["seconds"] / kept, 4) if kept else None}
        for name, b in old_stats.get("backend_seconds", {}).items()
    }
    stats["backends"] = old_stats.get("backends", {})
    rejects = sorted((out / "rejects").glob("rejects-*.parquet"))  # the carried-over rejects and the new ones
    stats["drop_examples"] = drop_examples(rejects, list(stats["dropped"]))
    for key, value in old_stats.items():  # what no step recomputed here describes the generation: carried over
        stats.setdefault(key, value)
    stats["filtered_from"] = {
        "dataset": str(source.root),
        "manifest_hash": old_stats.get("manifest_hash"),
        "kept": old_stats.get("kept"),
        "newly_dropped": sum(s["newly_dropped"] for s in shard_stats),
        "steps": [cfg.step for cfg in manifest.steps],
    }
    write_json(out / "stats.json", stats)
    header = f"# written by `datagen filter` {__version__} from {source.root}: the source manifest + filter steps\n"
    (out / "manifest.yaml").write_text(header + yaml.safe_dump(combined, sort_keys=False))
    write_json(
        out / "run.json",
        {
            "manifest_hash": digest,
            "records": stats["records"],
            "shards": len(shard_stats),
            "datagen": __version__,
            "filtered_from": stats["filtered_from"],
        },
    )
    from datagen.card import write_card

    steps = ", ".join(stats["filtered_from"]["steps"])
    description = manifest.description or f"{source.root.name} re-filtered with {steps}."
    write_card(out, stats, name=manifest.name, description=description, source=str(source.root), split=source.split)
    from datagen.export import FORMATS, export

    for fmt in combined.get("output", {}).get("exports") or []:
        if fmt in FORMATS:
            export(out, fmt)
    return stats


def _source_manifest(source: _Dataset) -> dict[str, Any]:
    path = source.root / "manifest.yaml"
    try:
        base = read_yaml(path) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        base = None
    return base if isinstance(base, dict) else {"input": {"path": str(source.root)}, "steps": []}


def _source_steps(source: _Dataset) -> list[Step]:
    """The source run's steps, unconfigured: only to report their figures (`stats_for_shard`) on kept records."""
    steps = []
    for spec in _source_manifest(source).get("steps") or []:
        name = spec.get("step") if isinstance(spec, dict) else None
        if isinstance(name, str) and name in registry.STEPS:
            step = registry.step_class(name).__new__(registry.step_class(name))
            Step.__init__(step, StepConfig())
            steps.append(step)
    return steps


def _combined_manifest(source: _Dataset, manifest: Any, out: Path) -> dict[str, Any]:
    """The source run's resolved manifest with the filter steps appended: the new dataset's whole provenance."""
    base = _source_manifest(source)
    curate = manifest.model_dump(mode="json")
    return {
        **base,
        "name": curate["name"],
        "description": curate["description"] or base.get("description", ""),
        "output": {**(base.get("output") or {}), "path": str(out)},
        "steps": [*(base.get("steps") or []), *curate["steps"]],
    }
