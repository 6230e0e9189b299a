"""The audit's speech-quality section: DNSMOS per voice and engine, MOS against WER, and re-synthesized samples.

DNSMOS (`filters.mos`) rates how a clip sounds, the WER how well it was heard; the scatter shows whether the two
disagree (clean audio misheard, noisy audio heard fine). The yield per `min_mos` threshold says what a MOS gate
would keep of the records kept now, and `rescued` counts kept records that needed more than one take.
"""

from __future__ import annotations

from html import escape
from typing import Any

import numpy as np
import pandas as pd

MOS_THRESHOLDS = (1.5, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25, 3.5)


def min_mos_setting(steps: list[dict[str, Any]]) -> float | None:
    for step in steps:
        value = step.get("min_mos", 2.5) if step.get("step") == "min_mos" else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def mos_section(records: pd.DataFrame, turns: pd.DataFrame, min_mos: float | None) -> dict[str, Any] | None:
    """None when nothing carries a DNSMOS score (`mos: false` and no `min_mos` gate, or not speech data).

    A `min_mos` gate rates an unscored sample as a whole (its lowest clip), so such data has record scores but no
    turn scores: the yield per threshold still holds, the tables per voice are empty."""
    rated = turns.dropna(subset=["mos"])
    rated_records = int(records["mos"].notna().sum()) if "mos" in records else 0
    if rated.empty and not rated_records:
        return None
    rated = rated.assign(label=rated["tts"].fillna("?").astype(str) + ":" + rated["voice"].fillna("?").astype(str))

    def rows(key: str) -> list[dict[str, Any]]:
        out = []
        for name, group in rated.groupby(key, sort=True):
            mos = group["mos"].astype(float)
            out.append({
                "name": str(name), "turns": int(len(group)), "mean": round(float(mos.mean()), 3),
                "min": round(float(mos.min()), 3), "p10": round(float(np.percentile(mos, 10)), 3),
                "kept_share": round(float((group["status"] == "kept").mean()), 4),
            })  # fmt: skip
        return out

    kept = records[records["status"] == "kept"]
    kept_mos = kept["mos"].dropna().astype(float)
    takes = turns.dropna(subset=["takes"])
    retried_ids = set(takes.loc[takes["takes"] > 1, "id"])
    return {
        "min_mos": min_mos,
        "records": rated_records,
        "turns": int(len(rated)),
        "voices": rows("label"),
        "engines": rows("tts"),
        "yield_by_min_mos": [
            {"min_mos": t, "kept": int((kept_mos >= t).sum()), "share": round(float((kept_mos >= t).mean()), 4)}
            for t in MOS_THRESHOLDS
        ]
        if len(kept_mos)
        else [],
        "retried": len(retried_ids),
        "rescued": int(kept["id"].isin(retried_ids).sum()),
        "extra_takes": int((takes["takes"] - 1).clip(lower=0).sum()),
    }


def mos_wer_plot(turns: pd.DataFrame, min_mos: float | None, max_wer: float | None) -> bytes | None:
    """Each spoken turn at (DNSMOS, WER), kept vs dropped, with the gates' thresholds."""
    both = turns.dropna(subset=["mos", "wer"])
    if both.empty:
        return None
    from matplotlib import rc_context

    from datagen.audit.plots import figure, finish, status_scatter

    with rc_context({"text.parse_math": False}):
        fig, ax = figure(5.2, 3.4)
        status_scatter(ax, both, "mos", "wer")
        if min_mos is not None:
            ax.axvline(min_mos, color="black", linestyle=":", linewidth=1, label=f"min_mos {min_mos:g}")
        if max_wer is not None:
            ax.axhline(max_wer, color="black", linestyle="--", linewidth=1, label=f"max_wer {max_wer:g}")
        return finish(fig, ax, "DNSMOS overall (1 = bad .. 5 = excellent)", "turn WER")


def mos_html(
    section: dict[str, Any] | None, turns: pd.DataFrame, max_wer: float | None, img: Any, table: Any, num: Any, pct: Any
) -> str:
    """The section's body; `img`, `table`, `num`, `pct` are the page's own helpers (one look across sections)."""
    if not section:
        return (
            '<p class="note">No DNSMOS scores in this data (speech steps write them with mos: true; a min_mos gate '
            "rates what reaches it unscored).</p>"
        )
    plot = mos_wer_plot(turns, section["min_mos"], max_wer)
    what = "DNSMOS (overall quality, 1–5; trained on real recordings, so it catches noise, clipping and broken audio "
    what += "rather than judging naturalness)"
    if section["turns"]:
        head = (
            f"<p>{section['turns']} spoken turns rated by {what}. "
            f"Re-synthesized: {section['retried']} record(s), {section['extra_takes']} extra take(s); "
            f"<b>{section['rescued']}</b> of them kept (rescued).</p>"
        )
    else:
        head = (
            f"<p>{section['records']} records rated by {what} at a min_mos gate, each by its lowest clip; scores per "
            "turn and voice need mos: true in the speech step.</p>"
        )
    headers = ["", "turns", "mean MOS", "min", "p10", "kept share"]

    def body(rows: list[dict[str, Any]]) -> list[list[str]]:
        return [[escape(r["name"]), num(r["turns"]), num(r["mean"], 2), num(r["min"], 2), num(r["p10"], 2),
                 pct(r["kept_share"])] for r in rows]  # fmt: skip

    voices = table(["engine:voice", *headers[1:]], body(section["voices"]), {1, 2, 3, 4, 5})
    engines = table(["engine", *headers[1:]], body(section["engines"]), {1, 2, 3, 4, 5})
    out = head + f'<div class="plots">{img(plot, "MOS vs WER")}{voices}</div>{engines}'
    if section["yield_by_min_mos"]:
        rows = [[num(r["min_mos"], 2), num(r["kept"]), pct(r["share"])] for r in section["yield_by_min_mos"]]
        current = section["min_mos"]
        note = f" (current min_mos: {num(current, 2)})" if current is not None else ""
        out += f'<p class="note">What a min_mos gate would keep of the records kept now{note}:</p>'
        out += table(["min_mos", "kept", "share"], rows, {0, 1, 2})
    return out
