"""Decontamination: drop a record whose user or assistant turn shares a word n-gram with a benchmark problem.

Training on a benchmark's problems makes every later evaluation on it a lie, so a hit is a drop (`contaminated`),
naming the benchmark and the shared n-gram. Placed before a sampling step (`cot`, `dpo`) it spends no model time on
contaminated problems; `datagen filter` applies it to a finished dataset (also checking the generated traces).
The indexes are built once in `setup()` from the files the manifest names (`benchmarks: {name: path}`, JSONL or
parquet, the problem text found in `question` / `problem` / `prompt` / ... or user chat turns; see
`filters.contamination`). System turns are not checked: they are prompt templates, not data.

`contaminated_by` (meta, on kept and dropped records) lists every benchmark a record overlaps, so counts per
benchmark can be read from the output; the detail shows the first benchmark's matched n-gram.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep
from filters.contamination import BenchmarkError, NgramIndex, read_benchmark

log = logging.getLogger(__name__)


class DecontaminateConfig(StepConfig):
    benchmarks: dict[str, Path] = Field(
        min_length=1, description="benchmark name -> JSONL or parquet file of its problems (relative: to the manifest)"
    )
    n: int = Field(8, ge=3, le=50, description="words per n-gram: a shared run this long is contamination")
    roles: list[str] = Field(["user", "assistant"], min_length=1, description="which turns are checked")
    max_benchmark_mb: float = Field(256, gt=0, description="a larger benchmark file is refused before reading")
    max_ngrams: int = Field(20_000_000, ge=1, description="distinct n-grams per benchmark (8 bytes each in memory)")


class Decontaminate(Filter):
    name = "decontaminate"
    Config = DecontaminateConfig
    reads = ("messages",)
    writes = ("contaminated_by",)
    config: DecontaminateConfig

    def __init__(self, config: StepConfig | None = None, *, seed: int = 0) -> None:
        super().__init__(config, seed=seed)
        self.indexes: dict[str, NgramIndex] = {}

    @classmethod
    def features(cls) -> dict[str, Any]:
        from datasets import List, Value

        return {"contaminated_by": List(Value("string"))}

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        """`contamination`: how many records overlapped each benchmark (a record can overlap several)."""
        return {"contamination": {"by_benchmark": dict(sorted(totals.items()))}}

    def setup(self, backends: Mapping[str, Any]) -> None:
        """Index every benchmark once; an unreadable or empty benchmark stops the run before any model time."""
        super().setup(backends)
        cfg = self.config
        for name, path in cfg.benchmarks.items():
            try:
                found = read_benchmark(path, max_bytes=int(cfg.max_benchmark_mb * 1_000_000))
                index = NgramIndex(cfg.n, cfg.max_ngrams)
                for text in found.texts:
                    index.add(text)
                index.freeze()
            except BenchmarkError as err:
                raise BenchmarkError(f"decontaminate: benchmark {name!r}: {err}") from None
            if not len(index):
                raise BenchmarkError(f"decontaminate: benchmark {name!r} ({path}) has no problem of {cfg.n}+ words")
            if found.skipped:
                log.warning("decontaminate: %s: skipped %d unreadable row(s) in %s", name, found.skipped, path)
            self.indexes[name] = index

    def teardown(self) -> None:
        self.indexes = {}
        super().teardown()

    def judge(self, sample: Sample) -> Verdict:
        hits: list[tuple[str, str, int]] = []
        for k, message in enumerate(sample.messages):
            if message.role not in self.config.roles:
                continue
            if not isinstance(message.content, str):
                return drop("no_text", f"turn {k}: content is {type(message.content).__name__}, not text")
            for name, index in self.indexes.items():
                gram = index.first_hit(message.content)
                if gram is not None and name not in {h[0] for h in hits}:
                    hits.append((name, gram, k))
        names = [h[0] for h in hits]
        self.tally.update(names)  # records overlapping each benchmark: stats.json `contamination`
        if hits:
            name, gram, k = hits[0]
            return drop("contaminated", f"{name}: turn {k} shares {gram!r}", contaminated_by=names)
        return keep(contaminated_by=names)
