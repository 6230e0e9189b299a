"""Benchmark contamination by word n-gram overlap: fold text, hash its n-grams, look them up in a benchmark's index.

A training problem that shares a run of `n` words (default 8, as open-r1 and the Llama/GPT-3 reports use) with a
benchmark problem is treated as that problem: long enough that chance overlap between different problems is rare,
short enough to catch a benchmark question pasted into a longer prompt or a solution quoting it. Text is folded
first (NFKC, case-folded, every run of non-alphanumeric characters a word break) so "Find x." and "find X!" agree.

Memory: a benchmark's index holds one 64-bit hash per distinct n-gram in a sorted numpy array (8 bytes each; the
500 MATH-500 problems are ~50k n-grams, 400 KB), never the text. A lookup is a binary search per record n-gram.
Two different n-grams share a 64-bit hash with probability ~2^-64 per pair: negligible against any benchmark.

Benchmark files are data too (a user may point at a download they never read): the file's size is capped before
reading, JSONL is read line by line with a per-line cap, and lines that are not UTF-8 JSON objects with a text
field are skipped and counted (`BenchmarkTexts.skipped`), never fatal. Parquet is read in column batches, text
columns only. This module imports nothing from datagen (the `decontaminate` step wraps it).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BenchmarkError", "BenchmarkTexts", "NgramIndex", "fold", "ngrams", "read_benchmark"]

# the fields a benchmark row's problem is found in, first present wins (the readers' `question`, and the names
# MATH / AIME / GPQA / HumanEval-style dumps use); chat rows (`messages` / `conversations`) give their user turns
TEXT_FIELDS = ("question", "problem", "prompt", "instruction", "input", "query", "text", "passage", "Question")
CHAT_FIELDS = (("messages", "role", "content"), ("conversations", "from", "value"))
_USER_ROLES = {"user", "human"}
MAX_LINE_BYTES = 1 << 20  # a benchmark problem over 1 MB is not a problem statement
_WORD_RE = re.compile(r"[^\W_]+")


class BenchmarkError(ValueError):
    """A benchmark file that cannot serve as one (missing, too big, no text at all): a configuration error."""


def fold(text: str) -> list[str]:
    """Words of `text` with case, width and punctuation folded away ("Find $x$!" -> ["find", "x"])."""
    return _WORD_RE.findall(unicodedata.normalize("NFKC", text).casefold())


def ngrams(words: list[str], n: int) -> Iterator[tuple[int, str]]:
    """(64-bit hash, text) of each word n-gram; a text shorter than `n` words has none."""
    for i in range(len(words) - n + 1):
        gram = " ".join(words[i : i + n])
        yield int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest(), "little"), gram


@dataclass(slots=True)
class NgramIndex:
    """The distinct n-gram hashes of one benchmark, sorted; `add` texts, then `freeze`, then `first_hit`."""

    n: int = 8
    max_ngrams: int = 20_000_000
    _pending: list[int] = field(default_factory=list)
    _hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))

    def add(self, text: str) -> None:
        self._pending.extend(h for h, _ in ngrams(fold(text), self.n))
        if len(self._pending) > self.max_ngrams:
            self._compact()
            if len(self._hashes) > self.max_ngrams:
                raise BenchmarkError(f"more than {self.max_ngrams:,} distinct {self.n}-grams (raise max_ngrams)")

    def _compact(self) -> None:
        pending = np.fromiter(self._pending, dtype=np.uint64, count=len(self._pending))
        self._hashes = np.union1d(self._hashes, pending)
        self._pending = []

    def freeze(self) -> NgramIndex:
        self._compact()
        return self

    def __len__(self) -> int:
        return len(self._hashes) + len(self._pending)

    def first_hit(self, text: str) -> str | None:
        """The first n-gram of `text` (folded) that the benchmark also has, or None."""
        grams = list(ngrams(fold(text), self.n))
        if not grams or not len(self._hashes):
            return None
        keys = np.fromiter((h for h, _ in grams), dtype=np.uint64, count=len(grams))
        pos = np.minimum(np.searchsorted(self._hashes, keys), len(self._hashes) - 1)
        hits = np.flatnonzero(self._hashes[pos] == keys)
        return grams[int(hits[0])][1] if len(hits) else None


@dataclass(slots=True)
class BenchmarkTexts:
    texts: list[str]
    skipped: int  # rows that were not readable problems (bad UTF-8 / JSON, no text field, over the line cap)


def _row_texts(row: Any) -> list[str]:
    if not isinstance(row, dict):
        return []
    for key, role_key, text_key in CHAT_FIELDS:
        turns = row.get(key)
        if isinstance(turns, list):
            return [
                t[text_key]
                for t in turns
                if isinstance(t, dict)
                and str(t.get(role_key, "")).lower() in _USER_ROLES
                and isinstance(t.get(text_key), str)
            ]
    for key in TEXT_FIELDS:
        if isinstance(row.get(key), str):
            return [row[key]]
    return []


def _jsonl_rows(path: Path) -> Iterator[Any]:
    with path.open("rb") as f:
        while True:
            line = f.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # skip the rest of an over-long line in bounded reads
                    line = f.readline(MAX_LINE_BYTES)
                yield None
                continue
            if not line.strip():
                continue
            try:
                yield json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError):
                yield None


def _parquet_rows(path: Path) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        names = set(parquet.schema_arrow.names)
        columns = [c for c in (*TEXT_FIELDS, *(k for k, _, _ in CHAT_FIELDS)) if c in names]
        if not columns:
            return
        for batch in parquet.iter_batches(batch_size=1024, columns=columns):
            yield from batch.to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise BenchmarkError(f"{path}: not a readable parquet file ({err})") from err


def read_benchmark(path: Path, *, max_bytes: int) -> BenchmarkTexts:
    """The problem texts of a JSONL or parquet benchmark file; refuses a missing, special or over-size file."""
    if not path.is_file():
        raise BenchmarkError(f"{path}: not a file")
    size = path.stat().st_size
    if size > max_bytes:
        raise BenchmarkError(f"{path}: {size:,} bytes is over the {max_bytes:,}-byte cap (raise max_benchmark_mb)")
    if path.suffix not in (".jsonl", ".ndjson", ".parquet"):
        raise BenchmarkError(f"{path}: expected a .jsonl or .parquet file of problems")
    rows: Iterable[Any] = _parquet_rows(path) if path.suffix == ".parquet" else _jsonl_rows(path)
    texts, skipped = [], 0
    for row in rows:
        found = _row_texts(row)
        texts.extend(found)
        skipped += not found
    return BenchmarkTexts(texts, skipped)
