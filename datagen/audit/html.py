"""Render the audit as one self-contained HTML page: plots, audio and images inline as base64 data URIs.

No script, no font or stylesheet from the network: the file opens the same offline, attached to a ticket, or
years later. Every value from the data is escaped (texts and transcripts are untrusted).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from html import escape
from typing import Any, TypeVar

from datagen.audit import plots
from datagen.audit.drops import drops_html
from datagen.audit.html_parts import (
    CSS,
    _img,
    _missing,
    _note,
    _num,
    _pct,
    _plots,
    _section,
    _table,
    audio_tag,
    image_tag,
)
from datagen.audit.report import Audit

SECTIONS = [
    ("summary", "Summary"),
    ("funnel", "Yield funnel"),
    ("drops", "Drop reasons"),
    ("wer", "WER"),
    ("calibration", "WER threshold"),
    ("duration", "Durations"),
    ("voices", "Voices"),
    ("voice-diversity", "Voice diversity"),
    ("mos", "Speech quality"),
    ("pass-rate", "Pass rate"),
    ("worst", "Worst samples"),
    ("cost", "Cost"),
    ("provenance", "Provenance"),
]


_TITLES = dict(SECTIONS)
Render = TypeVar("Render", bound=Callable[..., str])


def _needs(key: str, note: str) -> Callable[[Render], Render]:
    """A section of the report entry `key`: when the data has none, the section says only `note`."""

    def wrap(render: Render) -> Render:
        @functools.wraps(render)
        def section(r: dict[str, Any], *args: Any) -> str:
            if not r[key]:
                sid = key.replace("_", "-")
                return _section(sid, _TITLES[sid], _missing(note))
            return render(r, *args)

        return section  # type: ignore[return-value]

    return wrap


def render_html(audit: Audit, media: dict[tuple[str, int], dict[str, bytes | None]]) -> str:
    r = audit.report
    prov = r["provenance"]
    title = prov.get("name") or audit.folder.root.name
    nav = "".join(f'<a href="#{sid}">{escape(label)}</a>' for sid, label in SECTIONS)
    body = [
        _summary(r),
        _funnel(r),
        drops_html(r),
        _wer(r, audit),
        _calibration(r),
        _duration(r, audit),
        _voices(r),
        _voice_diversity(r),
        _mos(r, audit),
        _pass_rate(r),
        _worst(r, media),
        _cost(r),
        _provenance(r),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>datagen audit — {escape(str(title))}</title><style>{CSS}</style></head><body>"
        f"<header><h1>datagen audit — {escape(str(title))}</h1>"
        f"<p>{escape(r['dataset']['path'])} · {escape(r['dataset']['kind'])} dataset</p><nav>{nav}</nav></header>"
        f"<main>{''.join(body)}</main></body></html>"
    )


def _summary(r: dict[str, Any]) -> str:
    f, cost, cal = r["funnel"], r["cost"], r["calibration"]
    cards = [
        (f"{f['records']}", "source records"),
        (f"{f['kept']}", "kept"),
        (_pct(f["yield"]), "yield"),
    ]
    if r["wer"]:
        cards.append((_num(r["wer"]["kept"].get("mean")), "mean WER of kept"))
    if cal and cal["recommended"].get("max_wer") is not None:
        cards.append((f"{cal['recommended']['max_wer']:g}", "recommended max_wer"))
    if cost and cost["model_seconds_per_kept"] is not None:
        cards.append((f"{cost['model_seconds_per_kept']:.3f} s", "model-seconds per kept sample"))
    tiles = "".join(f'<div class="card"><b>{v}</b><span>{escape(k)}</span></div>' for v, k in cards)
    inner = f'<div class="cards">{tiles}</div>'
    missing = r["dataset"]["missing"]
    if missing:
        inner += '<h3>Not in this dataset</h3><ul class="note">' + "".join(f"<li>{escape(m)}</li>" for m in missing)
        inner += "</ul>"
    return _section("summary", "Summary", inner)


def _contamination(r: dict[str, Any]) -> str:
    """Records that overlapped each decontamination benchmark (empty when no `decontaminate` step ran)."""
    found = r.get("contamination")
    if not found:
        return ""
    rows = [[escape(name), _num(n)] for name, n in found.items()]
    return "<h3>Decontamination: records overlapping each benchmark</h3>" + _table(["benchmark", "records"], rows, {1})


def _funnel(r: dict[str, Any]) -> str:
    f = r["funnel"]
    rows = [["source records", "", "", _num(f["records"])]]
    if f["records"] != f["source"]:  # a step emitted several records per input (traces, QA pairs)
        rows.append(["records out of the steps", "one input → several records", "", _num(f["source"])])
    rows += [[escape(s["step"]), escape(s["reason"]), _num(s["dropped"]), _num(s["remaining"])] for s in f["stages"]]
    rows.append(['<span class="kept">kept</span>', "", "", _num(f["kept"])])
    inner = _plots(_img(plots.funnel_plot(f), "yield funnel"))
    inner += _table(["step", "drop reason", "dropped", "remaining"], rows, {2, 3})
    inner += _note(f"Counts from {escape(f['from'])}.")
    if f.get("duplicate_ids"):
        inner += _note(f"{_num(f['duplicate_ids'])} kept record(s) repeat an earlier kept id.")
    inner += _contamination(r)
    return _section("funnel", "Yield funnel: source → each drop reason → kept", inner)


def _summary_rows(sections: dict[str, dict[str, Any]], keys: list[str]) -> list[list[str]]:
    return [[escape(name)] + [_num(s.get(k)) for k in keys] for name, s in sections.items() if s.get("count")]


@_needs("wer", "No WER in this data (no text + transcript pair, no wer column).")
def _wer(r: dict[str, Any], audit: Audit) -> str:
    w = r["wer"]
    keys = ["count", "mean", "p50", "p90", "max"]
    inner = _plots(
        _img(plots.wer_histogram(w), "WER histogram"),
        _img(plots.wer_vs_length(audit.turns, w["max_wer"]), "WER vs query length"),
    )
    inner += _table(["", *keys], _summary_rows({"kept": w["kept"], "dropped": w["dropped"]}, keys), {1, 2, 3, 4, 5})
    inner += _note(
        "Normalized WER (case, punctuation, numbers, spelling variants do not count). ",
        f"{_pct(w['zero_wer_share'])} of samples were transcribed perfectly. A sample's WER is its worst spoken turn",
        "; the dashed line is the run's max_wer." if w["max_wer"] is not None else ".",
    )
    return _section("wer", "WER: kept vs dropped, and by query length", inner)


@_needs("calibration", "No WER: nothing to calibrate.")
def _calibration(r: dict[str, Any]) -> str:
    cal = r["calibration"]
    rec = cal["recommended"]
    best = rec.get("max_wer")
    head = (
        f'<p class="rec">Recommended <b>max_wer = {best:g}</b> — {escape(rec["reason"])}.</p>'
        if best is not None
        else f'<p class="missing">No recommendation: {escape(rec["reason"])}.</p>'
    )
    rows = [
        [("<b>" if row["threshold"] == best else "") + f"{row['threshold']:g}", _num(row["kept"]), _pct(row["yield"]),
         _num(row["false_rejects"]), _num(row["false_accepts"]), _pct(row["false_accept_share"])]
        for row in cal["table"]
    ]  # fmt: skip
    table = _table(["max_wer", "kept", "yield", "false rej.", "false acc.", "acc. / kept"], rows, {1, 2, 3, 4, 5})
    inner = head + _plots(_img(plots.calibration_plot(cal), "yield vs threshold"), beside=table)
    inner += _note(
        f"Rule: {escape(rec['rule'])}. {cal['samples']} samples reached the gate; "
        f"{cal['likely_ok']} have only benign differences: none, or near-misses of one stem (an ending of at most "
        "2 letters: “color”/“colors”, “color is”/“colors”), split/merged words, or numbers. Dropping such a "
        "sample is a likely false reject; keeping a sample with any other error (“shapes” heard as “shades”, a "
        "missing word) is an estimated false accept. A screening estimate, not ground truth."
    )
    if cal["run_drops_likely_false"]:
        ids = ", ".join(escape(i) for i in cal["run_drops_likely_false"][:20])
        inner += _note(f"This run's drops that look like false rejects: {ids}")
    return _section("calibration", "Choosing max_wer: yield and estimated errors by threshold", inner)


@_needs("duration", "No audio durations in this data.")
def _duration(r: dict[str, Any], audit: Audit) -> str:
    d = r["duration"]
    keys = ["count", "mean", "min", "p50", "p90", "max", "total"]
    inner = _plots(_img(plots.duration_histogram(audit.turns), "duration histogram"))
    inner += _table(["seconds", *keys], _summary_rows(d, keys), set(range(1, 8)))
    return _section("duration", "Spoken query durations", inner)


@_needs("voices", "No speech provenance (engine/voice) in this data.")
def _voices(r: dict[str, Any]) -> str:
    v = r["voices"]
    rows = [
        [escape(name), _num(v["voices"].get(name, 0)), _num(n), _pct(v["kept_share_by_voice"].get(name))]
        for name, n in v["voices_all"].items()
    ]
    table = _table(["engine:voice", "kept turns", "all turns", "kept share"], rows, {1, 2, 3})
    inner = _plots(_img(plots.voices_plot(v), "voices"), beside=table)
    asr = ", ".join(f"{escape(k)} ({n})" for k, n in v["asr_models"].items())
    speed = v["speed"]
    inner += _note(
        f"Verifier ASR: {asr}. Speaking rate of kept turns: ",
        f"{_num(speed.get('min'))}–{_num(speed.get('max'))} (mean {_num(speed.get('mean'))}).",
    )
    return _section("voices", "Voice and engine distribution", inner)


def _voice_diversity(r: dict[str, Any]) -> str:
    from datagen.audit.voice_map import voice_diversity_html

    inner = voice_diversity_html(r.get("voice_diversity"), _img, _table, _num)
    return _section("voice-diversity", "Voice diversity: how distinct the voices sound", inner)


def _mos(r: dict[str, Any], audit: Audit) -> str:
    from datagen.audit.mos_section import mos_html

    inner = mos_html(r.get("mos"), audit.turns, (r.get("wer") or {}).get("max_wer"), _img, _table, _num, _pct)
    return _section("mos", "Speech quality: DNSMOS and re-synthesis", inner)


@_needs("pass_rate", "No pass_rate in this data (written by CoT generators).")
def _pass_rate(r: dict[str, Any]) -> str:
    p = r["pass_rate"]
    rows = [
        ["records with pass_rate", _num(p["records"])],
        ["mean pass rate (≈ pass@1)", _pct(p["mean_pass_rate"])],
        ["pass@N (at least one correct)", _pct(p["pass_at_n"])],
        ["all correct", _pct(p["all_pass"])],
        ["none correct", _pct(p["none_pass"])],
    ]
    per_problem = p.get("per_problem") or {}
    if per_problem.get("problems"):
        rows.append(["problems (stats.json)", _num(per_problem["problems"])])
        rows.append(["pass@N per problem (stats.json)", _pct(per_problem.get("pass_at_n"))])
    inner = _plots(_img(plots.pass_rate_histogram(p), "pass rate"), beside=_table(["", ""], rows, {1}))
    return _section("pass-rate", "Pass@N / pass-rate distribution", inner)


def _worst(r: dict[str, Any], media: dict[tuple[str, int], dict[str, bytes | None]]) -> str:
    worst = r["worst"]
    if not worst:
        note = (
            "No sample has a WER above 0: every transcript matched its text."
            if r["wer"]
            else "No WER in this data: nothing to rank."
        )
        return _section("worst", "Worst samples", _missing(note))
    rows = []
    for w in worst:
        m = media.get((w["file"], w["row"]), {})
        status = f'<span class="{w["status"]}">{escape(w["status"])}</span>'
        if w["reason"]:
            status += f"<br><span class='note'>{escape(w['reason'])}</span>"
        text = f"<b>text</b> {escape(w['text'] or '')}<br><b>heard</b> {escape(w['transcript'] or '∅')}"
        rows.append(
            [escape(w["id"]) + (f"<br><span class='note'>turn {w['turn']}</span>" if w["turn"] is not None else ""),
             status, _num(w["wer"]), text, audio_tag(m.get("audio")), image_tag(m.get("image")),
             escape(w["voice"] or "—")]
        )  # fmt: skip
    inner = '<div class="worst">' + _table(
        ["id", "status", "WER", "text vs transcript", "listen", "image", "voice"], rows, {2}
    )
    inner += "</div>" + _note(
        "Highest-WER samples first (the sample's worst turn; perfect transcripts are not listed). ",
        "Images of dropped records are not stored in rejects/.",
    )
    return _section("worst", f"Worst samples (top {len(worst)} by WER)", inner)


@_needs("cost", "No stats.json with model-seconds: cost unknown.")
def _cost(r: dict[str, Any]) -> str:
    c = r["cost"]
    rows = [
        [escape(b["backend"]), escape(str(b["engine"])), escape(str(b["model"] or "—")), _num(b["calls"]),
         _num(b["model_seconds"]), _num(b["seconds_per_call"], 4), _num(b["seconds_per_kept"], 4)]
        for b in c["backends"]
    ]  # fmt: skip
    rows.append(["<b>total</b>", "", "", "", f"<b>{_num(c['model_seconds'])}</b>", "",
                 f"<b>{_num(c['model_seconds_per_kept'], 4)}</b>"])  # fmt: skip
    inner = _plots(_img(plots.cost_plot(c), "model-seconds per backend"))
    inner += _table(["backend", "engine", "model", "calls", "model-s", "s / call", "s / kept sample"], rows,
                    {3, 4, 5, 6})  # fmt: skip
    inner += _note(
        f"Model-seconds = wall time inside TTS/ASR calls, summed over workers. {c['kept']} kept samples, ",
        f"{_num(c['kept_audio_seconds'])} s of kept audio → {_num(c['model_seconds_per_kept_audio_second'], 4)} ",
        f"model-seconds per kept audio second. Run wall time {_num(c['wall_seconds'])} s (model loading ",
        f"{_num(c['setup_seconds'])} s); {_pct(c['outside_models_share'])} of it outside model calls.",
    )
    return _section("cost", "Cost accounting: model-seconds", inner)


def _provenance(r: dict[str, Any]) -> str:
    p = r["provenance"]
    rows = [
        [escape(k), escape(str(p.get(key)) if p.get(key) not in (None, []) else "—")]
        for k, key in (
            ("run name", "name"),
            ("description", "description"),
            ("manifest hash", "manifest_hash"),
            ("input fingerprint", "input"),
            ("datagen version", "datagen_version"),
            ("shards", "shards"),
            ("seed", "seed"),
        )
    ]
    rows.append(["steps", escape(" → ".join(str(s) for s in p.get("steps") or []) or "—")])
    inner = _table(["", ""], rows)
    backends = p.get("backends") or {}
    if isinstance(backends, dict) and backends:
        brows = []
        for name, spec in backends.items():
            spec = spec if isinstance(spec, dict) else {}
            settings = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "engine" and v is not None)
            brows.append([escape(name), escape(str(spec.get("engine"))), escape(settings)])
        inner += "<h3>Backends (models)</h3>" + _table(["name", "engine", "settings"], brows)
    versions = p.get("versions") or {}
    if versions:
        text = ", ".join(f"{name} {v}" for name, v in versions.items())
        inner += "<h3>Package versions</h3>" + _note(escape(text))
    if p.get("manifest_yaml"):
        inner += f"<details><summary>manifest.yaml</summary><pre>{escape(p['manifest_yaml'])}</pre></details>"
    else:
        inner += _missing("No manifest.yaml beside the data.")
    return _section("provenance", "Provenance", inner)
