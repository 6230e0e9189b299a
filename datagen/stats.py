"""Merge per-shard stats into the run's `stats.json`: counts per reason, distributions, model-seconds.

What only one kind of step knows (voices heard, problems solved) each step reports itself: its per-shard
figures are summed here and its `stats_for_run` turns them into stats.json entries.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from datagen import registry


def summarize(values: list[float], bins: int = 10) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    arr = np.asarray(values, dtype=float)
    counts, edges = np.histogram(arr, bins=bins)
    return {
        "count": int(arr.size),
        "mean": round(float(arr.mean()), 4),
        "min": round(float(arr.min()), 4),
        "p50": round(float(np.percentile(arr, 50)), 4),
        "p90": round(float(np.percentile(arr, 90)), 4),
        "max": round(float(arr.max()), 4),
        "histogram": {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist()},
    }


def add_figures(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Sum two steps' figures key by key (numbers add; dicts of numbers add recursively)."""
    out = dict(total)
    for key, value in more.items():
        if isinstance(value, dict):
            out[key] = add_figures(out.get(key) or {}, value)
        else:
            out[key] = out.get(key, 0) + value
    return out


def step_entries(figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each step's own stats.json entries (e.g. `voices`, `rejection_sampling`) from its summed figures."""
    entries: dict[str, Any] = {}
    for step, totals in figures.items():
        if step in registry.STEPS:
            entries.update(registry.step_class(step).stats_for_run(totals))
    return entries


def merge(shards: list[dict[str, Any]], *, total: int) -> dict[str, Any]:
    dropped: Counter[str] = Counter()
    step_seconds: Counter[str] = Counter()
    backend: dict[str, Counter[str]] = defaultdict(Counter)
    kept_values: dict[str, list[float]] = defaultdict(list)
    dropped_values: dict[str, list[float]] = defaultdict(list)
    audio: list[float] = []
    figures: dict[str, dict[str, Any]] = defaultdict(dict)
    for s in shards:
        dropped.update(s["dropped"])
        step_seconds.update(s["step_seconds"])
        for name, b in s["backend_seconds"].items():
            backend[name].update(b)
        for key, vals in s["values"]["kept"].items():
            kept_values[key].extend(vals)
        for key, vals in s["values"]["dropped"].items():
            dropped_values[key].extend(vals)
        audio.extend(s["values"]["audio_seconds"])
        for step, more in s.get("steps", {}).items():
            figures[step] = add_figures(figures[step], more)
    seen = sum(s["seen"] for s in shards)
    inputs = sum(s.get("inputs", s["seen"]) for s in shards)  # `datagen filter` shards: one record in, one out
    kept = sum(s["kept"] for s in shards)
    return {
        "records": total,
        "shards": len(shards),
        "seen": seen,
        "kept": kept,
        "dropped_total": seen - kept,
        "inputs": inputs,
        "yield": round(kept / inputs, 4) if inputs else None,  # kept per input record (> 1 with fan-out)
        "dropped": dict(sorted(dropped.items(), key=lambda kv: -kv[1])),
        "kept_scores": {k: summarize(v) for k, v in sorted(kept_values.items())},
        "dropped_scores": {k: summarize(v) for k, v in sorted(dropped_values.items())},
        "audio_seconds": {**summarize(audio), "total": round(sum(audio), 2)},
        **step_entries(figures),
        "wall_seconds": round(sum(s["wall_seconds"] for s in shards), 3),
        "setup_seconds": round(sum(s.get("setup_seconds", 0.0) for s in shards), 3),
        "step_seconds": {k: round(v, 3) for k, v in step_seconds.items()},
        "backend_seconds": {
            name: {
                "seconds": round(b["seconds"], 3),
                "calls": int(b["calls"]),
                "seconds_per_kept": round(b["seconds"] / kept, 4) if kept else None,
            }
            for name, b in backend.items()
        },
    }
