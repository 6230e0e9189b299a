"""Pick the WER gate's `max_wer` from data: yield and estimated false rejects / accepts for each threshold.

Every spoken turn that reached the gate carries its text, its transcript and its WER — kept rows in `speech`,
dropped rows in the rejects' `meta` JSON — so a threshold can be judged without any model time.

**The false-reject heuristic.** A drop is a *likely false reject* when every error in the transcript looks
benign, i.e. the audio was probably fine and only the comparison failed. Both sides are normalized
(`filters.normalize`), aligned by jiwer, and adjacent non-matching words are merged into one error span
(so "color is" → "colors" is one span, not a substitution plus a deletion). A span is benign when

1. it holds a digit on either side: numbers, units and dates are normalization-sensitive (many written forms), or
2. it is a near-miss of one stem: with spaces removed the two sides are equal (a split or merge: "some one" /
   "someone"), or they share a prefix of at least 3 characters and each side has at most 2 more characters
   after it — an inflection, possessive, contraction or homophone ending: "color"/"colors", "color is"/"colors",
   "walked"/"walks", "their"/"there". Plain edit distance would be looser: "shapes"/"shades" or "cat"/"bat" are
   one character apart but are genuine mishearings, so they count as real errors here, as does any inserted or
   dropped word.

A sample is *likely ok* when all its turns are (a perfect transcript is trivially ok). Then, at threshold t:
kept = samples with WER ≤ t; *false rejects* = likely-ok samples above t; *false accepts* = kept samples that are
not likely ok (a real word error got through). The heuristic is a screening estimate, not ground truth: it
can forgive a real inflection error ("walk" heard as "walks") and counts a dropped "a" as a real error.

**The recommendation rule.** The smallest threshold whose yield reaches `target_yield` while the false-accept
share of the kept samples stays ≤ `max_false_accept`. Yield and false accepts both grow with t, so that is also
the cleanest threshold reaching the target; when none qualifies, the largest threshold still within the
false-accept limit is recommended (clean data over volume), and the reason says so.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jiwer
import numpy as np

from filters.normalize import normalize_text

STEM_CHARS = 3  # shortest shared prefix that makes two words one stem
ENDING_CHARS = 2  # longest ending that may differ: s, es, ed, 's, is
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(float(t), 2) for t in np.arange(0.0, 1.0001, 0.05))


def error_spans(reference: str, transcript: str) -> list[tuple[list[str], list[str]]]:
    """Normalized (reference words, transcript words) of each maximal run of non-matching words."""
    ref, hyp = normalize_text(reference).split(), normalize_text(transcript).split()
    if not ref or not hyp:
        return [(ref, hyp)] if ref or hyp else []
    spans: list[tuple[list[str], list[str]]] = []
    last_equal = True
    for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        if chunk.type == "equal":
            last_equal = True
            continue
        r, h = ref[chunk.ref_start_idx : chunk.ref_end_idx], hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if last_equal:
            spans.append((r, h))
        else:
            spans[-1][0].extend(r)
            spans[-1][1].extend(h)
        last_equal = False
    return spans


def benign_span(ref_words: Sequence[str], hyp_words: Sequence[str]) -> bool:
    """Rule 1 or 2 of the module docstring."""
    if any(ch.isdigit() for word in (*ref_words, *hyp_words) for ch in word):
        return True
    if not ref_words or not hyp_words:
        return False
    a, b = "".join(ref_words), "".join(hyp_words)
    if a == b:
        return True
    stem = len(os.path.commonprefix([a, b]))
    return stem >= STEM_CHARS and len(a) - stem <= ENDING_CHARS and len(b) - stem <= ENDING_CHARS


def likely_ok(reference: str, transcript: str | None) -> bool:
    """True when the transcript differs from the reference only by benign spans (or not at all)."""
    if transcript is None:
        return False
    return all(benign_span(r, h) for r, h in error_spans(reference, transcript))


@dataclass(frozen=True, slots=True)
class GateSample:
    """One sample at the gate: its WER (worst spoken turn) and whether all its errors look benign."""

    id: str
    wer: float
    likely_ok: bool
    kept: bool | None = None  # what the run decided, when known


def gate_samples(turns: Iterable[Mapping[str, Any]]) -> list[GateSample]:
    """Group turn rows (`id`, `text`, `transcript`, `wer`, optional `status`) into samples, worst turn first."""
    by_id: dict[str, dict[str, Any]] = {}
    for t in turns:
        wer = t.get("wer")
        if wer is None or (isinstance(wer, float) and np.isnan(wer)):
            continue
        entry = by_id.setdefault(str(t["id"]), {"wer": 0.0, "ok": True, "kept": None})
        entry["wer"] = max(entry["wer"], float(wer))
        if float(wer) > 0:
            entry["ok"] = entry["ok"] and likely_ok(str(t.get("text") or ""), t.get("transcript"))
        status = t.get("status")
        if status is not None:
            entry["kept"] = status == "kept"
    return [GateSample(i, e["wer"], e["ok"], e["kept"]) for i, e in by_id.items()]


def calibrate(samples: Sequence[GateSample], thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> list[dict[str, Any]]:
    """One row per threshold: kept, yield, false rejects / accepts (counts and shares)."""
    wers = np.asarray([s.wer for s in samples], dtype=float)
    ok = np.asarray([s.likely_ok for s in samples], dtype=bool)
    n = len(samples)
    rows = []
    for t in thresholds:
        keep = wers <= t + 1e-12
        kept, dropped = int(keep.sum()), int(n - keep.sum())
        false_rejects = int((~keep & ok).sum())
        false_accepts = int((keep & ~ok).sum())
        rows.append(
            {
                "threshold": round(float(t), 4),
                "kept": kept,
                "dropped": dropped,
                "yield": round(kept / n, 4) if n else None,
                "false_rejects": false_rejects,
                "false_reject_share": round(false_rejects / dropped, 4) if dropped else 0.0,
                "false_accepts": false_accepts,
                "false_accept_share": round(false_accepts / kept, 4) if kept else 0.0,
            }
        )
    return rows


def recommend(rows: Sequence[Mapping[str, Any]], *, target_yield: float = 0.9, max_false_accept: float = 0.05) -> dict:
    """The module docstring's rule, with the reason in words."""
    rule = (
        f"smallest threshold with yield ≥ {target_yield:.0%} and estimated false accepts ≤ {max_false_accept:.0%} "
        "of the kept samples"
    )
    if not rows or rows[0]["yield"] is None:
        return {"max_wer": None, "rule": rule, "reason": "no sample carries a WER"}
    for row in rows:
        if row["yield"] >= target_yield and row["false_accept_share"] <= max_false_accept:
            reason = (
                f"max_wer {row['threshold']:g} keeps {row['yield']:.0%} ({row['kept']} samples); "
                f"{row['false_accepts']} kept with real errors, {row['false_rejects']} likely false rejects"
            )
            return {"max_wer": row["threshold"], "rule": rule, "reason": reason, "row": dict(row)}
    clean = [r for r in rows if r["false_accept_share"] <= max_false_accept and r["kept"]]
    if not clean:
        return {"max_wer": None, "rule": rule, "reason": "every threshold keeps too many samples with real errors"}
    row = clean[-1]
    reason = (
        f"no threshold reaches {target_yield:.0%} yield within the false-accept limit; max_wer {row['threshold']:g} "
        f"is the largest that stays within it (yield {row['yield']:.0%})"
    )
    return {"max_wer": row["threshold"], "rule": rule, "reason": reason, "row": dict(row)}


def calibrate_turns(
    turns: Iterable[Mapping[str, Any]],
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    target_yield: float = 0.9,
    max_false_accept: float = 0.05,
) -> dict[str, Any]:
    """Turn rows → {samples, likely_ok, table, recommended}: what the audit section and the CLI show."""
    samples = gate_samples(turns)
    rows = calibrate(samples, thresholds)
    dropped_ok = [s.id for s in samples if s.kept is False and s.likely_ok]
    return {
        "samples": len(samples),
        "likely_ok": sum(s.likely_ok for s in samples),
        "run_drops_likely_false": dropped_ok,
        "target_yield": target_yield,
        "max_false_accept": max_false_accept,
        "table": rows,
        "recommended": recommend(rows, target_yield=target_yield, max_false_accept=max_false_accept),
    }


def calibrate_dataset(dataset: str | Path, **options: Any) -> dict[str, Any]:
    """`calibrate_turns` over every spoken turn of a dataset folder, kept and rejected."""
    from datagen.audit.load import open_dataset, read_tables

    folder = open_dataset(dataset)
    _, turns = read_tables(folder)
    result = calibrate_turns(turns.to_dict("records"), **options)
    result["current_max_wer"] = folder.max_wer()
    return result


def print_calibration(dataset: str | Path, out: str | Path | None = None, **options: Any) -> dict[str, Any]:
    """The `datagen calibrate-wer` command: a table on stdout; calibration.json + .png in `out` when given."""
    result = calibrate_dataset(dataset, **options)
    print(f"{result['samples']} samples at the gate, {result['likely_ok']} with only benign differences")
    print(f"{'max_wer':>8} {'kept':>6} {'yield':>7} {'false rej':>10} {'false acc':>10} {'acc/kept':>9}")
    for row in result["table"]:
        share = "" if row["yield"] is None else f"{row['yield']:.1%}"
        print(
            f"{row['threshold']:>8g} {row['kept']:>6} {share:>7} {row['false_rejects']:>10} "
            f"{row['false_accepts']:>10} {row['false_accept_share']:>9.1%}"
        )
    rec = result["recommended"]
    print(f"rule: {rec['rule']}")
    print(f"recommended max_wer: {rec['max_wer']} — {rec['reason']}")
    if out is not None:
        from datagen.audit.plots import calibration_plot

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "calibration.json").write_text(json.dumps(result, indent=2))
        png = calibration_plot(result)
        if png:
            (folder / "calibration.png").write_bytes(png)
        print(f"wrote {folder / 'calibration.json'}")
    return result
