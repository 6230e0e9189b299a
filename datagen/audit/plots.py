"""The audit's figures as PNG bytes (matplotlib's object API: no pyplot state, no display needed).

Each function takes the report dict (or the tables behind it) and returns None when there is nothing to draw.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

KEPT, DROPPED, ACCENT, GREY = "#2f7d4f", "#c8553d", "#3a6ea5", "#8a8f98"


def _plain(name: object, limit: int = 60) -> str:
    """A name from the data as literal label text: cut short, and `$` escaped so matplotlib's math-text parser never
    sees it (an unbalanced `$\\frac{$` in a backend, reason or voice name would make it raise)."""
    text = str(name)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def figure(width: float = 5.2, height: float = 3.2) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def finish(fig: Figure, ax: Any, xlabel: str, ylabel: str = "", legend_cols: int = 4) -> bytes:
    """Label the axes, put the legend above them (never on top of the data; 0 columns: no legend), render as PNG."""
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if legend_cols:
        ax.legend(frameon=False, ncols=legend_cols, fontsize=8.5, loc="lower left", bbox_to_anchor=(0.0, 1.0))
    return _png(fig)


def funnel_plot(funnel: dict[str, Any]) -> bytes | None:
    stages = funnel["stages"]
    if not funnel["source"]:
        return None
    first = "source records" if funnel["records"] == funnel["source"] else f"records ({funnel['records']} inputs)"
    labels = [first] + [_plain(f"− {s['step']}: {s['reason']}") for s in stages] + ["kept"]
    fig, ax = figure(6.4, 0.5 + 0.42 * len(labels))
    ys = range(len(labels))[::-1]
    values = [funnel["source"]] + [s["dropped"] for s in stages] + [funnel["kept"]]
    lefts = [0] + [s["remaining"] for s in stages] + [0]
    colors = [GREY] + [DROPPED] * len(stages) + [KEPT]
    ax.barh(list(ys), values, left=lefts, color=colors, height=0.6)
    for y, v, left in zip(ys, values, lefts, strict=True):
        ax.text(left + v, y, f" {v}", va="center", fontsize=9)
    ax.set_yticks(list(ys), labels, fontsize=9)
    ax.set_xlim(0, funnel["source"] * 1.12)
    return finish(fig, ax, "records", legend_cols=0)


def wer_histogram(wer: dict[str, Any] | None) -> bytes | None:
    if not wer:
        return None
    h = wer["histogram"]
    edges = h["edges"]
    fig, ax = figure()
    ax.hist([edges[:-1], edges[:-1]], bins=edges, weights=[h["kept"], h["dropped"]], stacked=True,
            color=[KEPT, DROPPED], label=["kept", "dropped"])  # fmt: skip
    if wer.get("max_wer") is not None:
        ax.axvline(wer["max_wer"], color="black", linestyle="--", linewidth=1, label=f"max_wer {wer['max_wer']:g}")
    return finish(fig, ax, "WER of the sample's worst turn (last bin: ≥ 1)", "samples")


def status_scatter(ax: Any, points: pd.DataFrame, x: str, y: str) -> None:
    """One dot per row at (`x`, `y`), coloured by `status` (kept / dropped; a status with no rows has no legend)."""
    for status, color in (("kept", KEPT), ("dropped", DROPPED)):
        part = points[points["status"] == status]
        if len(part):
            ax.scatter(part[x], part[y], s=18, alpha=0.6, color=color, label=status, edgecolors="none")


def wer_vs_length(turns: pd.DataFrame, max_wer: float | None) -> bytes | None:
    scored = turns.dropna(subset=["wer"])
    if not len(scored):
        return None
    fig, ax = figure()
    status_scatter(ax, scored, "words", "wer")
    if max_wer is not None:
        ax.axhline(max_wer, color="black", linestyle="--", linewidth=1, label=f"max_wer {max_wer:g}")
    return finish(fig, ax, "query length (words)", "turn WER")


def duration_histogram(turns: pd.DataFrame) -> bytes | None:
    timed = turns.dropna(subset=["duration"])
    if not len(timed):
        return None
    fig, ax = figure()
    groups = [timed.loc[timed["status"] == s, "duration"].astype(float) for s in ("kept", "dropped")]
    ax.hist(groups, bins=20, stacked=True, color=[KEPT, DROPPED], label=["kept", "dropped"])
    return finish(fig, ax, "spoken query duration (s)", "turns")


def voices_plot(voices: dict[str, Any] | None) -> bytes | None:
    if not voices or not voices["voices_all"]:
        return None
    names = list(voices["voices_all"])[:20]
    kept = [voices["voices"].get(n, 0) for n in names]
    dropped = [voices["voices_all"][n] - k for n, k in zip(names, kept, strict=True)]
    fig, ax = figure(6.4, 0.8 + 0.35 * len(names))
    ys = list(range(len(names)))[::-1]
    ax.barh(ys, kept, color=KEPT, label="kept", height=0.6)
    ax.barh(ys, dropped, left=kept, color=DROPPED, label="dropped", height=0.6)
    ax.set_yticks(ys, [_plain(n) for n in names], fontsize=9)
    return finish(fig, ax, "spoken turns (engine:voice)")


def pass_rate_histogram(pass_rate: dict[str, Any] | None) -> bytes | None:
    if not pass_rate:
        return None
    h = pass_rate["histogram"]
    fig, ax = figure()
    ax.hist(h["edges"][:-1], bins=h["edges"], weights=h["all"], color=ACCENT, label="all records")
    ax.hist(h["edges"][:-1], bins=h["edges"], weights=h["kept"], color=KEPT, alpha=0.7, label="kept")
    return finish(fig, ax, "pass rate (share of sampled solutions judged correct)", "records")


def calibration_plot(calibration: dict[str, Any] | None) -> bytes | None:
    if not calibration or not calibration["samples"]:
        return None
    table = pd.DataFrame(calibration["table"])
    fig, ax = figure(5.2, 3.8)
    ax.plot(table["threshold"], table["yield"], color=KEPT, marker="o", markersize=3, label="yield")
    n = calibration["samples"]
    ax.plot(table["threshold"], table["false_rejects"] / n, color=DROPPED, marker="o", markersize=3,
            label="likely false rejects / all")  # fmt: skip
    ax.plot(table["threshold"], table["false_accept_share"], color=ACCENT, marker="o", markersize=3,
            label="est. false accepts / kept")  # fmt: skip
    best = calibration["recommended"].get("max_wer")
    if best is not None:
        ax.axvline(best, color="black", linestyle="--", linewidth=1, label=f"recommended {best:g}")
    current = calibration.get("current_max_wer")
    if current is not None and current != best:
        ax.axvline(current, color=GREY, linestyle=":", linewidth=1.5, label=f"current {current:g}")
    ax.set_ylim(-0.03, 1.05)
    return finish(fig, ax, "max_wer threshold", legend_cols=2)


def cost_plot(cost: dict[str, Any] | None) -> bytes | None:
    if not cost or not cost["backends"]:
        return None
    rows = cost["backends"]
    fig, ax = figure(6.4, 0.9 + 0.45 * len(rows))
    ys = list(range(len(rows)))[::-1]
    ax.barh(ys, [r["model_seconds"] for r in rows], color=ACCENT, height=0.6)
    for y, r in zip(ys, rows, strict=True):
        per = r["seconds_per_kept"]
        ax.text(r["model_seconds"], y, f" {r['model_seconds']:.1f} s" + (f" ({per:.3f} s/kept)" if per else ""),
                va="center", fontsize=9)  # fmt: skip
    ax.set_yticks(ys, [_plain(f"{r['backend']} ({r['engine']})") for r in rows], fontsize=9)
    ax.set_xlim(0, max(r["model_seconds"] for r in rows) * 1.5 or 1)
    return finish(fig, ax, "model-seconds", legend_cols=0)
