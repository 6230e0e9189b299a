"""The audit's speech-quality section: MOS per voice and engine, MOS vs WER, rescued samples, yield per min_mos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import datagen.speech as speech
from datagen.audit import build_audit, write_report
from datagen.audit.mos_section import MOS_THRESHOLDS, mos_section, mos_wer_plot
from datagen.manifest import load_manifest
from datagen.records import Audio
from datagen.run import run
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset
from filters.mos import MosScores


def fake_mos(audio: Audio) -> MosScores:
    """The fake engines' audio differs by speed only: slower (longer) clips rate higher, 1.8 .. 3.4."""
    ovrl = round(min(3.4, max(1.8, 1.8 + (len(audio.array) / 16000 - 0.3) * 3.5)), 3)
    return MosScores(ovrl, ovrl + 0.3, 4.0, ovrl + 0.2)


def rated_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **step: Any) -> Path:
    """A fake-engine run with DNSMOS replaced by `fake_mos`, a two-voice pool, retries below MOS 2.6 and a gate."""
    monkeypatch.setattr(speech, "score_mos", fake_mos)
    data = write_swift_dataset(tmp_path / "data", n=12)
    out = tmp_path / "out"
    spec = fake_manifest(data, out, asr={"word_error_rate": 0.1}, mos=True)
    spec["steps"][0].update(
        voices=[
            {"tts": "tts", "voice": "alpha", "speed": [0.6, 1.4]},
            {"tts": "tts", "voice": "beta", "speed": [0.6, 1.4]},
        ],
        **step,
    )
    spec["steps"].append({"step": "min_mos", "min_mos": 2.4})
    run(load_manifest(write_manifest(tmp_path / "m.yaml", spec)))
    return out


def test_mos_section_from_a_run_with_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = rated_run(tmp_path, monkeypatch, attempts=3, retry_min_mos=2.6)
    audit = build_audit(out, voice_clips=0)
    section = audit.report["mos"]
    turns = audit.turns
    assert section["turns"] == int(turns["mos"].notna().sum()) > 0
    assert {r["name"] for r in section["voices"]} == {"fake_tts:alpha", "fake_tts:beta"}
    assert [r["name"] for r in section["engines"]] == ["fake_tts"]
    assert section["min_mos"] == 2.4
    retried = set(turns.loc[turns["takes"] > 1, "id"])
    kept = set(audit.records.loc[audit.records["status"] == "kept", "id"])
    assert section["retried"] == len(retried) > 0 and section["rescued"] == len(retried & kept) > 0
    assert section["extra_takes"] == int((turns["takes"] - 1).sum())
    kept_mos = audit.records.loc[audit.records["status"] == "kept", "mos"]
    yields = section["yield_by_min_mos"]
    assert [r["min_mos"] for r in yields] == list(MOS_THRESHOLDS)  # every threshold, not an empty table
    assert yields[0]["kept"] == len(kept) > 0  # the min_mos gate (2.4) kept nothing under the lowest threshold
    assert all(r["kept"] == int((kept_mos >= r["min_mos"]).sum()) for r in yields)
    stats = __import__("json").loads((out / "stats.json").read_text())
    assert stats["speech_quality"]["rescued"] == section["rescued"]
    page = write_report(out, tmp_path / "report.html", voice_clips=0).read_text()
    assert 'id="mos"' in page and 'alt="MOS vs WER"' in page and "fake_tts:alpha" in page


def test_mos_section_from_a_gate_that_rated_unscored_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mos: false` (the default) and a `min_mos` gate: records carry the gate's score, turns none."""
    from filters.mos import DnsMos

    monkeypatch.setattr(DnsMos, "score", classmethod(lambda cls, array, rate: fake_mos(Audio(array, rate))))
    data = write_swift_dataset(tmp_path / "data", n=12)
    out = tmp_path / "out"
    spec = fake_manifest(data, out, asr={"word_error_rate": 0.1})
    spec["steps"][0]["voices"] = [{"tts": "tts", "voice": "alpha", "speed": [0.6, 1.4]}]
    spec["steps"].append({"step": "min_mos", "min_mos": 2.4})
    stats = run(load_manifest(write_manifest(tmp_path / "m.yaml", spec)))
    audit = build_audit(out, voice_clips=0)
    section = audit.report["mos"]
    assert section["turns"] == 0 and section["voices"] == [] and audit.turns["mos"].isna().all()
    reached = stats["kept"] + stats["dropped"].get("min_mos:mos_below_min", 0)
    assert section["records"] == stats["min_mos"]["rated"] == reached > stats["kept"] > 0  # some rated, some dropped
    assert section["yield_by_min_mos"][0]["kept"] == stats["kept"]
    page = write_report(out, tmp_path / "report.html", voice_clips=0).read_text()
    assert f"{reached} records rated by DNSMOS" in page and "No DNSMOS scores" not in page


@pytest.mark.parametrize(
    "turns",
    [
        pd.DataFrame({"id": [], "status": [], "mos": [], "wer": [], "takes": [], "tts": [], "voice": []}),
        pd.DataFrame({"id": ["a"], "status": ["kept"], "mos": [None], "wer": [0.1], "takes": [1], "tts": ["t"],
                      "voice": ["v"]}),
    ],
    ids=["empty", "unrated"],
)  # fmt: skip
def test_no_scores_no_section(turns: pd.DataFrame) -> None:
    records = pd.DataFrame({"id": list(turns["id"]), "status": list(turns["status"]), "mos": list(turns["mos"])})
    assert mos_section(records, turns, None) is None
    assert mos_wer_plot(turns, None, None) is None


def test_hostile_voice_names_are_plain_text() -> None:
    """A voice called `$\\frac{` must not reach matplotlib's math parser (it would raise) nor the page unescaped."""
    turns = pd.DataFrame({
        "id": ["a", "b"], "status": ["kept", "dropped"], "mos": [3.1, 1.9], "wer": [0.0, 0.4], "takes": [1, 2],
        "tts": ["$\\frac{", "<script>"], "voice": ["x$", "alert(1)</script>"],
    })  # fmt: skip
    records = pd.DataFrame({"id": ["a", "b"], "status": ["kept", "dropped"], "mos": [3.1, 1.9]})
    section = mos_section(records, turns, 2.5)
    assert section is not None and section["retried"] == 1 and section["rescued"] == 0
    assert mos_wer_plot(turns, 2.5, 0.2)[:4] == b"\x89PNG"
    from datagen.audit.html_parts import _img, _num, _pct, _table
    from datagen.audit.mos_section import mos_html

    html = mos_html(section, turns, 0.2, _img, _table, _num, _pct)
    assert "<script>" not in html and "&lt;script&gt;" in html
