"""WebDataset tar shards (a `.tar`, a folder of them, or a glob / `{000..009}` pattern) as a source.

The layout of large image-text sets: the members `KEY.jpg`, `KEY.json`, `KEY.txt`... of one sample sit next to
each other in a tar; the sample key is the record id. Each sample becomes one record: its `.json` object (any
layout `datagen.layouts` knows), plus `KEY.txt` as `caption` and `KEY.NAME.txt` as field `NAME` (e.g.
`KEY.question.txt`), plus its image members as the record's images (in member-name order).

Tars are streamed with the `webdataset` package's tar iterator and never unpacked to disk, so a member named
`../x` is only a name. Planning reads the tar headers once (no data) to number the samples: that is what lets
shards start mid-tar and what caps every member's size before a byte of it is read.
"""

from __future__ import annotations

import glob
import json
import logging
import re
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen.fingerprint import content_fingerprint, hasher
from datagen.media import MediaPolicy
from datagen.readers import Plan, ShardSpec, Source, SourceError
from datagen.records import Rejected, Sample

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({"jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"})
MAX_MEMBER_BYTES = 64 << 20  # one image or JSON member; larger ones are rejected unread
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")  # gzip, bzip2, xz, zstd magic
_SKIP = re.compile(r"__[^/]*__($|/)")  # webdataset's own metadata members (`__index__` ...)
_KEY = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")  # KEY.SUFFIX, split at the first dot of the file name


def is_tar_input(path: Path) -> bool:
    """A `.tar`, a pattern of them (`*.tar`, `{000..009}.tar`), or a folder of tars with no parquet/`datasets` files."""
    text = str(path)
    if path.suffix == ".tar" or (text.endswith(".tar") and any(c in text for c in "*?[{") and not path.exists()):
        return True
    if not path.is_dir() or (path / "dataset_info.json").exists():
        return False
    return next(path.rglob("*.tar"), None) is not None and next(path.rglob("*.parquet"), None) is None


@dataclass(slots=True, frozen=True)
class _Entry:
    """One sample as the tar headers describe it; `problem` = (reason, detail) when it must be rejected."""

    tar: int
    key: str
    members: tuple[tuple[str, int], ...]  # (member name, how many earlier members of the tar had that name)
    problem: tuple[str, str] | None = None
    offset: int = 0  # where the header of its first member starts: a shard of a plain tar seeks straight there

    def suffixes(self) -> set[str]:
        return {_KEY.match(name).group(2).lower() for name, _ in self.members}  # type: ignore[union-attr]


class WebDatasetSource(Source):
    format = "webdataset"
    max_member_bytes = MAX_MEMBER_BYTES

    def __init__(self, path: Path, media: MediaPolicy | None = None) -> None:
        super().__init__(path, media)
        self.tars = _expand(path)
        self.root = path if path.is_dir() else self.tars[0].parent  # where a .json's relative image paths point
        self._entries: list[_Entry] = []
        self._scanned = 0  # tars whose headers are in `_entries`
        self._plain: set[int] = set()  # uncompressed tars: a shard starts reading at its first sample's header

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        total = len(self._entries_until(limit))
        total = min(total, limit) if limit else total
        return self._shards([(s, 0) for s in range(0, total, shard_size)], total, shard_size)

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        entries = self._entries_until(shard.stop)[shard.start : shard.stop]
        for tar in sorted({e.tar for e in entries}):
            in_tar = [(shard.start + i, e) for i, e in enumerate(entries) if e.tar == tar]
            yield from self._read_tar(self.tars[tar], in_tar, seekable=tar in self._plain)

    def _fingerprint(self) -> str:
        digest = hasher()
        for tar in self.tars:
            digest.update(content_fingerprint(tar, tar.parent).encode())
        return f"blake2b:{digest.hexdigest()}"

    def _stem(self) -> str:
        return self.tars[0].stem if len(self.tars) == 1 else self.tars[0].parent.name

    # -- planning: headers only ---------------------------------------------------------------------------

    def _entries_until(self, count: int | None) -> list[_Entry]:
        while (count is None or len(self._entries) < count) and self._scanned < len(self.tars):
            self._entries.extend(self._scan(self._scanned))
            self._scanned += 1
        return self._entries

    def _scan(self, tar: int) -> list[_Entry]:
        """The samples of one tar in order, grouped the way webdataset groups them (consecutive equal keys)."""
        groups: list[tuple[str, list[tarfile.TarInfo]]] = []
        broken = None
        path = self.tars[tar]
        try:
            with path.open("rb") as f:
                if not f.read(6).startswith(_COMPRESSED):
                    self._plain.add(tar)
            with tarfile.open(path, mode="r:*") as stream:
                while (info := stream.next()) is not None:
                    stream.members = []  # headers only: keep memory flat on tars of millions of members
                    key = _key(info)
                    if key is None:
                        continue
                    if not groups or groups[-1][0] != key:
                        groups.append((key, []))
                    groups[-1][1].append(info)
                if tar in self._plain and path.stat().st_size < stream.offset + 2 * tarfile.BLOCKSIZE:
                    raise tarfile.ReadError("truncated: no end-of-archive marker after the last member")
        except (tarfile.TarError, OSError) as err:
            # the last sample seen may have lost members: it is rejected, with everything after it
            log.warning("%s: unreadable after %d samples: %s", path, len(groups), err)
            if not groups:
                groups.append((f"{path.name}#unreadable", []))
            broken = (len(groups) - 1, ("tar_unreadable", f"{path.name}: {err}"))
        return self._entries_of(tar, groups, broken)

    def _entries_of(
        self, tar: int, groups: list[tuple[str, list[tarfile.TarInfo]]], broken: tuple[int, tuple[str, str]] | None
    ) -> list[_Entry]:
        entries, seen, occurrences = [], set(), Counter[str]()
        for g, (key, infos) in enumerate(groups):
            names = []
            for info in infos:  # a name may repeat in a tar: the selector below tells the copies apart
                names.append((info.name, occurrences[info.name]))
                occurrences[info.name] += 1
            suffixes = [_KEY.match(info.name).group(2).lower() for info in infos]  # type: ignore[union-attr]
            problem = broken[1] if broken and broken[0] == g else None
            big = [i for i in infos if i.size > self.max_member_bytes]
            if big:
                detail = f"{big[0].name}: {big[0].size} bytes > {self.max_member_bytes} (read nothing of it)"
                problem = ("member_too_large", detail)
            elif len(set(suffixes)) < len(suffixes):
                problem = ("malformed_record", f"sample {key!r:.80} has two members with the same suffix")
            elif key in seen:
                problem = ("duplicate_id", f"sample key {key!r:.80} appears twice in {self.tars[tar].name}")
            seen.add(key)
            entries.append(_Entry(tar, key, tuple(names), problem, infos[0].offset if infos else 0))
        return entries

    # -- reading: the webdataset iterator, only the members of this shard's good samples --------------------

    def _read_tar(
        self, path: Path, entries: list[tuple[int, _Entry]], *, seekable: bool
    ) -> Iterator[Sample | Rejected]:
        from webdataset.tariterators import group_by_keys, tar_file_iterator

        start = next((e.offset for _, e in entries if e.members), 0) if seekable else 0
        before: dict[str, int] = {}  # copies of each name before `start`: the shard's members are contiguous
        if start:
            for _, e in entries:
                for name, copy in e.members:
                    before.setdefault(name, copy)
        wanted = {(n, c - before.get(n, 0)) for _, e in entries if e.problem is None for n, c in e.members}
        errors: list[str] = []
        counts: Counter[str] = Counter()

        def select(name: str) -> bool:  # called once per regular member, in tar order
            counts[name] += 1
            return (name, counts[name] - 1) in wanted

        def stop(err: Exception) -> bool:  # a tar that breaks mid-read: the samples not yet read are rejected
            errors.append(str(err))
            return False

        with path.open("rb") as f:
            f.seek(start)
            files = _until_broken(tar_file_iterator(f, select_files=select, handler=stop), path, errors)
            samples = group_by_keys(files, handler=stop)
            for index, entry in entries:
                if entry.problem is not None:
                    yield Rejected(id=entry.key, reason=entry.problem[0], step="read", detail=entry.problem[1])
                    continue
                sample = next(samples, None)
                if sample is None or sample["__key__"] != entry.key or _suffixes(sample) != entry.suffixes():
                    samples = iter(())  # out of step with the plan: the tar changed or broke; reject the rest
                    why = errors[-1] if errors else "the tar no longer matches its plan"
                    yield Rejected(id=entry.key, reason="tar_unreadable", step="read", detail=f"{path.name}: {why}")
                    continue
                item = self._sample(sample, index)
                yield item.evolve(meta={"source_file": path.name}) if isinstance(item, Sample) else item

    def _sample(self, members: dict[str, Any], index: int) -> Sample | Rejected:
        """One record from a sample's members: the .json object, text members as fields, images as media."""
        key = members["__key__"]
        record: Any = {}
        texts: dict[str, str] = {}
        images = []
        for suffix in sorted(k for k in members if not k.startswith("__")):
            data, ext = members[suffix], suffix.rsplit(".", 1)[-1]
            if ext in IMAGE_SUFFIXES:
                images.append({"bytes": data, "path": f"{Path(key).name}.{suffix}"})
            elif ext in ("json", "txt"):
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as err:
                    return Rejected(id=key, reason="invalid_utf8", step="read", detail=f"{key}.{suffix}: {err}")
                if ext == "json":
                    try:
                        record = json.loads(text)
                    except json.JSONDecodeError as err:
                        return Rejected(id=key, reason="invalid_json", step="read", detail=f"{key}.json: {err}")
                else:
                    texts["caption" if suffix == "txt" else suffix[: -len(".txt")]] = text
        raw = json.dumps({"json": record, **texts}, ensure_ascii=False, default=str)
        if not isinstance(record, dict):
            detail = f"{key}.json: expected a JSON object, got {type(record).__name__}"
            return Rejected(id=key, reason="malformed_record", step="read", detail=detail, raw=raw[:4096])
        record = {**texts, **record, "id": key}
        if images:
            record.pop("image", None)
            record["images"] = images
        return self._convert(record, index, raw)


def _until_broken(files: Iterator[dict[str, Any]], path: Path, errors: list[str]) -> Iterator[dict[str, Any]]:
    """The members read before a tar breaks, then a clean end: the sample already read in full is still kept."""
    try:
        for member in files:
            yield {**member, "__url__": str(path)}
    except (tarfile.TarError, OSError, EOFError, ValueError) as err:
        errors.append(str(err))


def _suffixes(sample: dict[str, Any]) -> set[str]:
    return {k for k in sample if not k.startswith("__")}


def _key(info: tarfile.TarInfo) -> str | None:
    """A member's sample key, or None for what webdataset skips (directories, links, `__meta__`, no suffix)."""
    if not info.isreg() or _SKIP.match(info.name):
        return None
    match = _KEY.match(info.name)
    return match.group(1) if match else None


def _expand(path: Path) -> list[Path]:
    """The tars a path names: itself, the tars under a folder, or a glob with `{a,b}` / `{000..009}` braces."""
    if path.is_dir():
        tars = sorted(path.rglob("*.tar"))
    elif path.is_file():
        tars = [path]
    else:
        from braceexpand import braceexpand

        tars = sorted({Path(p) for pattern in braceexpand(str(path)) for p in glob.glob(pattern)})
        tars = [p for p in tars if p.is_file()]
    if not tars:
        raise SourceError(f"{path}: no .tar files found (a WebDataset input is a .tar, a folder or a glob of them)")
    return tars
