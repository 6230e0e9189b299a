"""`datagen filter DATASET --manifest curate.yaml --out NEW`: re-apply filter steps to a finished dataset.

Thresholds are separate from scoring so they can change without model time: the dataset is the `Source`
(`DatasetSource`) of an ordinary `Pipeline` that runs only filters (steps that need no backend), and each shard
is committed by the ordinary writer into a new dataset in the same layout. Kept rows keep their stored image and
audio bytes untouched (only the score columns are added); rows a filter now drops go to `rejects/` with their
reason, next to the rejects carried over from the source, so the funnel in `stats.json` still starts at the
source records.

Shards run in order in this one process with the same step objects, so samples meet the filters in (shard, row)
order, which makes stateful filters global and deterministic: `dedup` keeps the first occurrence in that order
across the whole dataset.

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
import shutil
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from datagen import __version__, registry
from datagen.card import drop_examples
from datagen.dataset_source import DatasetSource
from datagen.executors.local import commit_shard
from datagen.manifest import (
    CORE_FIELDS,
    ManifestError,
    content_hash,
    format_errors,
    read_yaml_mapping,
    resolve_step_paths,
    tagged_union,
)
from datagen.pipeline import Pipeline
from datagen.run import RunMismatchError
from datagen.shards import OutputDir, write_json
from datagen.stats import merge
from datagen.steps import Filter, Step, StepConfig

TOP_KEYS = ("name", "description", "seed", "on_error", "steps")
_OUTPUT_FILES = ("stats.json", "manifest.yaml", "run.json", "README.md")
_OUTPUT_DIRS = ("data", "rejects", "_shards", "export")


def filter_names() -> list[str]:
    """Registered steps that `datagen filter` may run: filters that call no backend (so no model)."""
    return [name for name in registry.STEPS if _is_plain_filter(registry.step_class(name))]


def _is_plain_filter(cls: type[Step]) -> bool:
    """A filter that calls no backend with its default options (`qa_consistency` without a `judge`)."""
    return issubclass(cls, Filter) and not cls.backend_refs(cls.Config.model_construct())


class CurateManifest(BaseModel):
    """A validated curate manifest; each of `steps` is a filter's config with a `step` tag (see `_curate_model`)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = 0
    on_error: Literal["skip", "raise"] = "skip"
    steps: list[StepConfig] = Field(min_length=1)

    @property
    def backends(self) -> dict[str, Any]:
        """None: `datagen filter` runs no model (the Pipeline reads this like a run manifest's)."""
        return {}


@cache
def _curate_model() -> type[CurateManifest]:
    names = filter_names()
    union = tagged_union(names, lambda name: registry.step_class(name).Config, "step")
    return create_model("CurateManifest", __base__=CurateManifest, steps=(list[union], Field(min_length=1)))


def load_curate_manifest(path: str | Path) -> CurateManifest:
    """Read and validate a filter-only manifest; every problem is a ManifestError naming the key and the options."""
    path = Path(path)
    data = read_yaml_mapping(path, f"a curate manifest is a YAML mapping with keys {', '.join(TOP_KEYS)}")
    problems = []
    for key in data:
        if key in ("input", "output", "backends"):
            problems.append(
                f"  {key}: not used by `datagen filter`, which reads DATASET, writes --out, no backends; remove it"
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
    resolve_step_paths(data, path.parent.resolve())
    try:
        return _curate_model().model_validate(data)
    except ValidationError as err:
        raise ManifestError(format_errors(path, err)) from None


# --- running the filters --------------------------------------------------------------------------------------


def refilter(dataset: Path, manifest: CurateManifest, out: Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Filter `dataset` into `out` (same layout) and return the new stats.

    The dataset is the source of an ordinary `Pipeline`, and each shard is committed by the ordinary writer.
    """
    dataset, out = dataset.resolve(), out.resolve()
    source = DatasetSource(dataset)
    pipeline = Pipeline(manifest, source=source)
    _check_reads(source, pipeline.steps)
    _prepare(dataset, out, overwrite)
    output = OutputDir(out, source.split)
    try:
        for shard in source.plan().shards:  # in order, in this process: stateful filters (dedup) are global
            commit_shard(pipeline, output, shard)
    finally:
        pipeline.teardown()
    return _finish(source, manifest, output)


def _check_reads(source: DatasetSource, steps: list[Step]) -> None:
    available = set(CORE_FIELDS) | set(source.meta_keys)
    for i, step in enumerate(steps):
        missing = [key for key in step.reads if key not in available]
        if missing:
            raise ManifestError(
                f"steps.{i} ({step.name}) reads {missing}, which {source.root} does not have and no earlier step "
                f"writes; its columns: {', '.join(sorted(available))}"
            )
        available.update(step.writes)


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


def _finish(source: DatasetSource, manifest: CurateManifest, output: OutputDir) -> dict[str, Any]:
    out, shard_stats = output.root, output.shard_stats()
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
        "newly_dropped": stats["dropped_total"] - source.carried,
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


def _combined_manifest(source: DatasetSource, manifest: CurateManifest, out: Path) -> dict[str, Any]:
    """The source run's resolved manifest with the filter steps appended: the new dataset's whole provenance."""
    base = source.manifest()
    curate = manifest.model_dump(mode="json")
    return {
        **base,
        "name": curate["name"],
        "description": curate["description"] or base.get("description", ""),
        "output": {**(base.get("output") or {}), "path": str(out)},
        "steps": [*(base.get("steps") or []), *curate["steps"]],
    }
