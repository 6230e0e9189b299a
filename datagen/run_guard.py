"""What `datagen run` may write and delete in its output folder: only what datagen wrote, never its own input.

Refused, with or without `--overwrite`: an output folder that holds the input (or the folder its relative media
resolve in: the input file's folder), or that lies inside a folder input (read recursively, the output would
become input). Refused also: a `README.md`, `manifest.yaml`, `stats.json` or `run.json` datagen did not write
(recognised by content: the card's `datagen` tag, the manifest's header, the stats' `manifest_hash`), and in a
folder without datagen's `run.json`, anything in `data/`, `rejects/`, `_shards/` or `export/`.
`--overwrite` then removes only datagen's own files: shard parquets and markers by their names, and export folders
holding an `export.json`; anything else in the folder stays.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

_SHARD = re.compile(r"^[a-z][a-z0-9_]*-\d{5}-of-\d{5}\.parquet$")
_MARKER = re.compile(r"^\d{5}\.json$")


class RunMismatchError(RuntimeError):
    """The output folder holds a run of another manifest or input."""


class UnsafeOutputError(RunMismatchError):
    """Writing the run here would overwrite or delete files datagen did not write (or the run's own input)."""


def check_apart(root: Path, input_path: Path) -> None:
    """Refuse an output folder holding the input (or its media folder), or lying inside a folder input."""
    if not input_path.exists():  # e.g. a hub dataset name: nothing on disk to protect
        return
    out, source = root.resolve(), input_path.resolve()
    media = source if source.is_dir() else source.parent
    if media.is_relative_to(out):
        raise UnsafeOutputError(
            f"--out {root} holds the input {input_path}: the run would write (and --overwrite delete) "
            "files among its own input; choose an output folder apart from the input"
        )
    if source.is_dir() and out.is_relative_to(source):
        raise UnsafeOutputError(
            f"--out {root} is inside the input folder {input_path}, which is read recursively: its output "
            "would become input; choose an output folder apart from the input"
        )


def _ours(path: Path) -> bool:
    """Did datagen write this top-level file? Judged by content, so a user's file of the same name is safe."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:100_000]
        if path.name == "README.md":
            header = text.split("---", 2)[1] if text.startswith("---\n") else ""
            return "datagen" in ((yaml.safe_load(header) or {}).get("tags") or [])
        if path.name == "manifest.yaml":
            return text.startswith(("# resolved by datagen", "# written by `datagen"))
        data: Any = json.loads(text)
        return isinstance(data, dict) and "manifest_hash" in data
    except (ValueError, yaml.YAMLError, AttributeError, IndexError):
        return False


def check_foreign_files(root: Path) -> None:
    """Refuse a folder where a file datagen writes already exists but was not written by datagen."""
    foreign = [name for name in ("README.md", "manifest.yaml", "stats.json", "run.json") if (root / name).is_file()]
    foreign = [name for name in foreign if not _ours(root / name)]
    if not (root / "run.json").is_file():  # no datagen run here: whatever fills its folders is someone else's
        foreign += [f"{sub}/" for sub in ("data", "rejects", "_shards", "export") if _non_empty(root / sub)]
    if foreign:
        raise UnsafeOutputError(
            f"{root} holds {', '.join(foreign)} that datagen did not write; the run would overwrite it "
            "(--overwrite too): move it or choose another --out"
        )


def _non_empty(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def clear_previous_run(root: Path) -> None:
    """Remove a previous run's shards, markers and exports; leave every other file where it is."""
    for sub, pattern in (("data", _SHARD), ("rejects", _SHARD), ("_shards", _MARKER)):
        folder = root / sub
        if folder.is_dir() and not folder.is_symlink():
            for path in folder.iterdir():
                if pattern.match(path.name) and path.is_file() and not path.is_symlink():
                    path.unlink()
    exports = root / "export"
    if exports.is_dir() and not exports.is_symlink():
        for folder in exports.iterdir():
            if folder.is_dir() and not folder.is_symlink() and (folder / "export.json").is_file():
                shutil.rmtree(folder)
    for sub in ("data", "rejects", "_shards", "export"):
        if (root / sub).is_dir() and not any((root / sub).iterdir()):
            (root / sub).rmdir()
