"""Content hashes of an input and of its shards: what a resume compares before it keeps finished output.

Name, size and mtime are not enough (an edit can keep all three), so every byte is hashed, streamed; blake2b
runs at disk speed. A file's name is hashed too, because it lands in each record's `source_file`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def hasher() -> Any:
    return hashlib.blake2b(digest_size=16)


def content_fingerprint(path: Path, root: Path) -> str:
    """Hash of every file at `path` (a file or a folder), with names relative to `root`."""
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    digest = hasher()
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode() + b"\0")
        with f.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return f"blake2b:{digest.hexdigest()}"


def derived_digest(fingerprint: str, start: int, stop: int) -> str:
    """A shard's digest where the reader cannot cheaply hash the shard alone: it changes with the whole input."""
    digest = hasher()
    digest.update(f"{fingerprint}:{start}:{stop}".encode())
    return digest.hexdigest()
