"""The audit's numbers: one JSON-able dict that both the HTML page and `report.json` are made from.

Sections are None when the data cannot give them (no WER, no speech provenance, no `pass_rate`, no stats.json);
the reason is then in `dataset.missing`, so a partial dataset still gets a report that says what it lacks.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datagen.audit.drops import drops_section
from datagen.audit.load import DatasetFolder, open_dataset, read_tables
from datagen.calibrate import DEFAULT_THRESHOLDS, calibrate_turns
from datagen.stats import summarize as _summarize

WER_BINS = [round(x, 2) for x in np.arange(0.0, 1.0001, 0.05)]


@dataclass
class Audit:
    """The report dict plus the tables behind it (the plots and notebooks use the tables)."""

    folder: DatasetFolder
    records: pd.DataFrame
    turns: pd.DataFrame
    report: dict[str, Any]


def build_audit(
    path: str | Path,
    *,
    worst: int = 12,
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
    target_yield: float = 0.9,
    max_false_accept: float = 0.05,
    voice_clips: int = 4,
) -> Audit:
    folder = open_dataset(path)
    records, turns = read_tables(folder)
    kept = int((records["status"] == "kept").sum())
    report: dict[str, Any] = {
        "dataset": {
            "path": str(folder.root.resolve()),
            "kind": folder.kind,
            "data_files": len(folder.data_files),
            "reject_files": len(folder.reject_files),
            "kept": kept,
            "dropped": int(len(records) - kept),
            "spoken_turns": int(len(turns)),
            "missing": list(folder.missing),
        },
        "funnel": funnel(folder, records),
        "wer": wer_section(records, turns, folder.max_wer()),
        "duration": duration_section(turns),
        "voices": voices_section(turns),
        "pass_rate": pass_rate_section(records, (folder.stats or {}).get("rejection_sampling")),
        "worst": worst_samples(records, turns, worst),
        "calibration": None,
        "cost": cost_section(folder.stats, turns),
        "contamination": (folder.stats or {}).get("contamination"),  # records overlapping each benchmark
        "provenance": provenance(folder),
    }
    if turns["wer"].notna().any():
        report["calibration"] = calibrate_turns(
            turns.to_dict("records"),
            thresholds=thresholds,
            target_yield=target_yield,
            max_false_accept=max_false_accept,
        )
        report["calibration"]["current_max_wer"] = folder.max_wer()
    from datagen.audit.voice_map import voice_diversity_section

    report["voice_diversity"] = voice_diversity_section(folder, turns, voice_clips)
    report["drops"] = drops_section(folder, report["funnel"])
    from datagen.audit.mos_section import min_mos_setting, mos_section

    report["mos"] = mos_section(records, turns, min_mos_setting(folder.steps()))
    if report["pass_rate"] is None:
        report["dataset"]["missing"].append("pass_rate in meta: no pass@N section (only CoT data carries it)")
    return Audit(folder, records, turns, report)


def summarize(values: list[float]) -> dict[str, Any]:
    """count/mean/min/p50/p90/max (stats.json's summary without its auto-binned histogram)."""
    return {k: v for k, v in _summarize(values).items() if k != "histogram"}


def funnel(folder: DatasetFolder, records: pd.DataFrame) -> dict[str, Any]:
    """Source records → each drop (step:reason, in step order) → kept; from stats.json, else from rejects/."""
    stats = folder.stats
    if stats:
        counts = {k: int(v) for k, v in stats.get("dropped", {}).items()}
        source, kept, origin = int(stats.get("seen", 0)), int(stats.get("kept", 0)), "stats.json"
    else:
        dropped = records[records["status"] == "dropped"]
        counts = Counter(f"{s}:{r}" for s, r in zip(dropped["step"], dropped["reason"], strict=True))
        kept = int((records["status"] == "kept").sum())
        source, origin = kept + sum(counts.values()), "rejects/" if folder.reject_files else "data/ only"
    order = folder.step_order()

    def rank(key: str) -> tuple[int, int, str]:
        step = key.split(":", 1)[0]
        return (order.index(step) if step in order else len(order), -counts[key], key)

    stages = []
    remaining = source
    for key in sorted(counts, key=rank):
        step, _, reason = key.partition(":")
        remaining -= counts[key]
        stages.append({"step": step, "reason": reason, "dropped": counts[key], "remaining": remaining})
    return {
        "source": source,
        "records": int(stats.get("records", source)) if stats else source,
        "stages": stages,
        "kept": kept,
        "yield": round(kept / source, 4) if source else None,
        "from": origin,
        # kept rows repeating an earlier kept row's id (kept, each with its own media; see datagen/export_media.py)
        "duplicate_ids": int(records.loc[records["status"] == "kept", "id"].duplicated().sum()),
    }


def _clean(values: pd.Series) -> list[float]:
    return [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _hist(values: list[float], edges: list[float]) -> list[int]:
    clipped = np.clip(np.asarray(values, dtype=float), edges[0], edges[-1])
    return np.histogram(clipped, bins=edges)[0].tolist() if values else [0] * (len(edges) - 1)


def wer_section(records: pd.DataFrame, turns: pd.DataFrame, max_wer: float | None) -> dict[str, Any] | None:
    """WER per sample (its worst turn: what the gate judges), kept vs dropped, and WER by query length."""
    kept = _clean(records.loc[records["status"] == "kept", "wer"])
    dropped = _clean(records.loc[records["status"] == "dropped", "wer"])
    if not kept and not dropped:
        return None
    by_length = []
    scored = turns.dropna(subset=["wer"])
    if len(scored):
        for words, group in scored.groupby("words"):
            by_length.append({"words": int(words), "turns": int(len(group)), "mean_wer": round(group["wer"].mean(), 4)})
    return {
        "max_wer": max_wer,
        "kept": summarize(kept),
        "dropped": summarize(dropped),
        "histogram": {"edges": WER_BINS, "kept": _hist(kept, WER_BINS), "dropped": _hist(dropped, WER_BINS)},
        "zero_wer_share": round(sum(w == 0 for w in kept + dropped) / len(kept + dropped), 4),
        "by_length": by_length,
    }


def duration_section(turns: pd.DataFrame) -> dict[str, Any] | None:
    kept = _clean(turns.loc[turns["status"] == "kept", "duration"])
    dropped = _clean(turns.loc[turns["status"] == "dropped", "duration"])
    if not kept and not dropped:
        return None
    return {
        "kept": {**summarize(kept), "total": round(sum(kept), 2)},
        "dropped": {**summarize(dropped), "total": round(sum(dropped), 2)},
    }


def voices_section(turns: pd.DataFrame) -> dict[str, Any] | None:
    spoken = turns.dropna(subset=["tts"])
    if not len(spoken):
        return None
    kept = spoken[spoken["status"] == "kept"]
    return {
        "voices": dict(Counter(f"{t}:{v}" for t, v in zip(kept["tts"], kept["voice"], strict=True)).most_common()),
        "voices_all": dict(
            Counter(f"{t}:{v}" for t, v in zip(spoken["tts"], spoken["voice"], strict=True)).most_common()
        ),
        "tts_engines": dict(Counter(kept["tts"]).most_common()),
        "asr_models": dict(Counter(spoken["asr"].dropna()).most_common()),
        "speed": summarize(_clean(kept["speed"])),
        "kept_share_by_voice": {
            voice: round(float((group["status"] == "kept").mean()), 4)
            for voice, group in spoken.assign(v=spoken["tts"] + ":" + spoken["voice"].fillna("")).groupby("v")
        },
    }


def pass_rate_section(records: pd.DataFrame, sampling: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """pass_rate = share of N sampled solutions judged correct; pass@N = share of records with at least one.

    CoT runs write one record per kept trace, so per-record shares weigh a problem by its traces; the run's own
    per-problem counts (stats.json `rejection_sampling`) are reported beside them when present.
    """
    values = _clean(records["pass_rate"])
    if not values:
        return None
    arr = np.asarray(values)
    edges = [round(x, 2) for x in np.arange(0.0, 1.0001, 0.1)]
    kept = _clean(records.loc[records["status"] == "kept", "pass_rate"])
    return {
        "records": len(values),
        "mean_pass_rate": round(float(arr.mean()), 4),
        "pass_at_n": round(float((arr > 0).mean()), 4),
        "all_pass": round(float((arr >= 1).mean()), 4),
        "none_pass": round(float((arr <= 0).mean()), 4),
        "histogram": {"edges": edges, "all": _hist(values, edges), "kept": _hist(kept, edges)},
        "per_problem": sampling,
    }


def worst_samples(records: pd.DataFrame, turns: pd.DataFrame, limit: int) -> list[dict[str, Any]]:
    """The highest-WER samples (kept or dropped), each with its worst turn; media are fetched by the renderer."""
    scored = turns.dropna(subset=["wer"])
    scored = scored[scored["wer"] > 0]
    if not len(scored) or limit <= 0:
        return []
    worst_turn = scored.sort_values(["wer", "words"], ascending=[False, False]).drop_duplicates("id").head(limit)
    out = []
    for t in worst_turn.itertuples(index=False):
        out.append(
            {
                "id": t.id,
                "status": t.status,
                "reason": t.reason if isinstance(t.reason, str) else None,
                "wer": round(float(t.wer), 4),
                "turn": None if pd.isna(t.turn) else int(t.turn),
                "text": t.text,
                "transcript": t.transcript if isinstance(t.transcript, str) else None,
                "duration": None if pd.isna(t.duration) else float(t.duration),
                "voice": f"{t.tts}:{t.voice}" if isinstance(t.tts, str) else None,
                "file": t.file,
                "row": int(t.row),
                "audio": None if pd.isna(t.audio) else int(t.audio),
            }
        )
    return out


def cost_section(stats: dict[str, Any] | None, turns: pd.DataFrame) -> dict[str, Any] | None:
    """Model-seconds (wall time inside TTS/ASR calls) per backend, in total, per kept sample, per kept audio second."""
    if not stats or not stats.get("backend_seconds"):
        return None
    kept = int(stats.get("kept", 0))
    audio = float((stats.get("audio_seconds") or {}).get("total") or 0.0)
    engines = stats.get("backends", {})
    rows = []
    for name, b in sorted(stats["backend_seconds"].items()):
        seconds, calls = float(b.get("seconds", 0.0)), int(b.get("calls", 0))
        spec = engines.get(name, {})
        rows.append(
            {
                "backend": name,
                "engine": spec.get("engine"),
                "model": spec.get("model") or spec.get("model_path"),
                "calls": calls,
                "model_seconds": round(seconds, 3),
                "seconds_per_call": round(seconds / calls, 4) if calls else None,
                "seconds_per_kept": round(seconds / kept, 4) if kept else None,
            }
        )
    total = sum(r["model_seconds"] for r in rows)
    wall = float(stats.get("wall_seconds", 0.0))
    return {
        "backends": rows,
        "model_seconds": round(total, 3),
        "kept": kept,
        "model_seconds_per_kept": round(total / kept, 4) if kept else None,
        "model_seconds_per_kept_audio_second": round(total / audio, 4) if audio else None,
        "kept_audio_seconds": round(audio, 2),
        "wall_seconds": round(wall, 3),
        "setup_seconds": float(stats.get("setup_seconds", 0.0)),
        "outside_models_share": round(max(wall - total, 0.0) / wall, 4) if wall else None,
    }


def provenance(folder: DatasetFolder) -> dict[str, Any]:
    run = folder.run or {}
    stats = folder.stats or {}
    manifest = folder.manifest
    return {
        "name": stats.get("name") or manifest.get("name"),
        "description": manifest.get("description"),
        "manifest_hash": run.get("manifest_hash") or stats.get("manifest_hash"),
        "input": run.get("input"),
        "datagen_version": run.get("datagen"),
        "shards": run.get("shards") or stats.get("shards"),
        "seed": manifest.get("seed"),
        "steps": [s.get("step") for s in manifest.get("steps") or [] if isinstance(s, dict)],
        "backends": stats.get("backends") or manifest.get("backends"),
        "versions": stats.get("versions") or {},
        "manifest_yaml": folder.manifest_text,
    }
