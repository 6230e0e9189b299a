"""Merge per-shard stats into the run's `stats.json`: counts per reason, distributions, model-seconds."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np


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


def sampling_summary(kept: dict[str, list[float]], dropped: dict[str, list[float]]) -> dict[str, Any] | None:
    """Rejection sampling (`cot`/`dpo`): per-problem counters sit on one record per problem, so sums are exact."""
    saved = kept.get("samples_saved", []) + dropped.get("samples_saved", [])
    if not saved:
        return None
    budget = sum(kept.get("sample_budget", []) + dropped.get("sample_budget", []))
    solved = kept.get("solved", []) + dropped.get("solved", [])
    return {
        "problems": len(saved),
        "pass_at_n": round(sum(solved) / len(solved), 4),
        "samples_budget": int(budget),
        "samples_drawn": int(budget - sum(saved)),
        "samples_saved": int(sum(saved)),
        "samples_saved_fraction": round(sum(saved) / budget, 4) if budget else None,
        "kept_traces": len(kept.get("trace_index", [])),
        "pairs_built": len(kept.get("pair_index", [])),
    }


def merge(shards: list[dict[str, Any]], *, total: int) -> dict[str, Any]:
    dropped: Counter[str] = Counter()
    step_seconds: Counter[str] = Counter()
    backend: dict[str, Counter[str]] = defaultdict(Counter)
    kept_values: dict[str, list[float]] = defaultdict(list)
    dropped_values: dict[str, list[float]] = defaultdict(list)
    audio: list[float] = []
    voices: Counter[str] = Counter()
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
        voices.update(s["values"]["voices"])
    seen = sum(s["seen"] for s in shards)
    kept = sum(s["kept"] for s in shards)
    return {
        "records": total,
        "shards": len(shards),
        "seen": seen,
        "kept": kept,
        "dropped_total": seen - kept,
        "yield": round(kept / seen, 4) if seen else None,
        "dropped": dict(sorted(dropped.items(), key=lambda kv: -kv[1])),
        "kept_scores": {k: summarize(v) for k, v in sorted(kept_values.items())},
        "dropped_scores": {k: summarize(v) for k, v in sorted(dropped_values.items())},
        "audio_seconds": {**summarize(audio), "total": round(sum(audio), 2)},
        "rejection_sampling": sampling_summary(kept_values, dropped_values),
        "voices": dict(voices.most_common()),
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
