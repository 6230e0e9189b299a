"""`datagen audit`: numbers match the run's own stats, the HTML is self-contained, plain parquet degrades gracefully."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from datagen.audit import build_audit, write_report
from datagen.audit.html import SECTIONS
from datagen.audit.report import Audit, pass_rate_section
from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 good records + 1 broken line; the fake ASR corrupts ~15 % of words and the gate keeps WER ≤ 0.1."""
    tmp = tmp_path_factory.mktemp("audit")
    data = write_swift_dataset(tmp / "data", n=8, extra_lines=[b"{broken"])
    out = tmp / "out"
    spec = fake_manifest(data, out, asr={"word_error_rate": 0.15}, max_wer=0.1)
    run(load_manifest(write_manifest(tmp / "m.yaml", spec)))
    return out


@pytest.fixture(scope="session")
def audit(run_dir: Path) -> Audit:
    return build_audit(run_dir, worst=5)


@pytest.fixture(scope="session")
def stats(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "stats.json").read_text())


def test_funnel_follows_the_steps_and_adds_up(audit: Audit, stats: dict[str, Any]) -> None:
    f = audit.report["funnel"]
    assert (f["source"], f["kept"], f["from"]) == (9, stats["kept"], "stats.json")
    assert [(s["step"], s["reason"]) for s in f["stages"]][0] == ("read", "invalid_json")
    assert {f"{s['step']}:{s['reason']}": s["dropped"] for s in f["stages"]} == stats["dropped"]
    assert f["stages"][-1]["remaining"] == f["kept"]
    assert f["yield"] == round(f["kept"] / 9, 4)


def test_wer_section_separates_kept_from_dropped(audit: Audit, stats: dict[str, Any]) -> None:
    w = audit.report["wer"]
    assert w["max_wer"] == 0.1
    assert w["kept"]["count"] == stats["kept"] and w["kept"]["max"] <= 0.1
    assert w["dropped"]["count"] == stats["dropped"]["max_wer:wer_above_max"] and w["dropped"]["min"] > 0.1
    assert sum(w["histogram"]["kept"]) + sum(w["histogram"]["dropped"]) == 8  # the broken line has no WER
    assert sum(b["turns"] for b in w["by_length"]) == len(audit.turns)


def test_voices_durations_and_worst(audit: Audit, stats: dict[str, Any]) -> None:
    r = audit.report
    assert r["voices"]["voices"] == stats["voices"]  # the run counted kept voices the same way
    assert r["duration"]["kept"]["count"] == stats["audio_seconds"]["count"]
    assert r["duration"]["kept"]["total"] == pytest.approx(stats["audio_seconds"]["total"], abs=0.01)
    worst = r["worst"]
    assert 0 < len(worst) <= 5
    assert [w["wer"] for w in worst] == sorted((w["wer"] for w in worst), reverse=True) and worst[-1]["wer"] > 0
    assert {w["status"] for w in worst} >= {"dropped"}


def test_cost_per_kept_sample_is_computed_from_model_seconds(audit: Audit, stats: dict[str, Any]) -> None:
    cost = audit.report["cost"]
    assert {row["backend"]: row["engine"] for row in cost["backends"]} == {"tts": "fake_tts", "asr": "fake_asr"}
    for row in cost["backends"]:
        seconds = stats["backend_seconds"][row["backend"]]["seconds"]
        assert row["seconds_per_kept"] == round(seconds / stats["kept"], 4)
    total = sum(b["seconds"] for b in stats["backend_seconds"].values())
    assert cost["model_seconds"] == pytest.approx(total, abs=1e-3)
    assert cost["model_seconds_per_kept"] == pytest.approx(total / stats["kept"], abs=1e-4)


def test_provenance_and_calibration(audit: Audit, run_dir: Path) -> None:
    p = audit.report["provenance"]
    run_json = json.loads((run_dir / "run.json").read_text())
    assert p["manifest_hash"] == run_json["manifest_hash"] and p["datagen_version"] == run_json["datagen"]
    assert p["steps"] == ["vision_speech", "max_wer"] and "fake_asr" in p["manifest_yaml"]
    from importlib.metadata import version

    assert p["versions"]["datagen"] == run_json["datagen"] and p["versions"]["jiwer"] == version("jiwer")
    cal = audit.report["calibration"]
    assert cal["samples"] == 8 and cal["current_max_wer"] == 0.1
    row = next(r for r in cal["table"] if r["threshold"] == 0.1)
    assert row["kept"] == audit.report["funnel"]["kept"]  # re-applying the run's threshold gives the run's yield


@pytest.mark.parametrize(
    ("values", "pass_at_n", "mean", "none"),
    [
        ([0.0, 0.5, 1.0, 0.25], 0.75, 0.4375, 0.25),
        ([1.0, 1.0], 1.0, 1.0, 0.0),
        ([0.0], 0.0, 0.0, 1.0),
        ([None, 0.5], 1.0, 0.5, 0.0),
    ],
)
def test_pass_rate_section(values: list[float | None], pass_at_n: float, mean: float, none: float) -> None:
    records = pd.DataFrame({"status": ["kept"] * len(values), "pass_rate": values})
    got = pass_rate_section(records)
    assert got is not None
    assert (got["pass_at_n"], got["mean_pass_rate"], got["none_pass"]) == (pass_at_n, mean, none)
    assert sum(got["histogram"]["all"]) == sum(v is not None for v in values)


def test_pass_rate_absent_is_said(audit: Audit) -> None:
    assert pass_rate_section(pd.DataFrame({"status": ["kept"], "pass_rate": [None]})) is None
    assert audit.report["pass_rate"] is None
    assert any("pass_rate" in m for m in audit.report["dataset"]["missing"])


def test_json_report_has_the_numbers_and_no_media(audit: Audit, run_dir: Path, tmp_path: Path) -> None:
    from datagen.cli import main

    assert main(["audit", str(run_dir), "--out", str(tmp_path), "--format", "json", "--worst", "5"]) == 0
    text = (tmp_path / "report.json").read_text()
    data = json.loads(text)
    assert data["funnel"] == audit.report["funnel"] and data["cost"] == audit.report["cost"]
    assert "base64" not in text and len(text) < 100_000


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="session")
def html_report(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_report(run_dir, tmp_path_factory.mktemp("report"), worst=5).read_text()


def test_html_names_the_package_versions(html_report: str) -> None:
    from importlib.metadata import version

    assert "Package versions" in html_report and f"jiwer {version('jiwer')}" in html_report


def test_html_is_self_contained(html_report: str) -> None:
    parser = _Tags()
    parser.feed(html_report)
    ids = {a.get("id") for t, a in parser.tags if t == "section"}
    assert ids == {sid for sid, _ in SECTIONS}
    images = [a["src"] for t, a in parser.tags if t == "img"]
    assert len(images) >= 6 and all(src and src.startswith("data:image/png;base64,") for src in images)
    audios = [a["src"] for t, a in parser.tags if t == "audio"]
    assert audios and all(src and src.startswith("data:audio/wav;base64,") for src in audios)
    for tag, attrs in parser.tags:
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            assert not re.match(r"^(https?:)?//", value), f"external {key} on <{tag}>: {value[:60]}"
    assert not any(t in ("script", "link", "iframe") for t, _ in parser.tags)


def test_html_embeds_playable_audio_and_escapes_text(html_report: str) -> None:
    import soundfile

    src = re.search(r'<audio controls preload="none" src="data:audio/wav;base64,([^"]+)"', html_report)
    assert src
    wave, rate = soundfile.read(io.BytesIO(base64.b64decode(src.group(1))))
    assert rate == 16000 and len(wave) > 0
    assert "<b>heard</b>" in html_report and "zzz" in html_report  # the fake ASR's corrupted words are shown
    assert "max_wer: 0.1" in html_report  # the manifest, escaped inside <pre>


@pytest.fixture(scope="session")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain `datasets` parquet folder: audio + text + transcript columns, nothing else."""
    import numpy as np
    import soundfile
    from datasets import Audio, Dataset

    def wav(seconds: float) -> bytes:
        buf = io.BytesIO()
        soundfile.write(buf, np.zeros(int(16000 * seconds), dtype=np.float32), 16000, format="WAV")
        return buf.getvalue()

    ds = Dataset.from_dict(
        {
            "audio": [{"bytes": wav(s), "path": f"{i}.wav"} for i, s in enumerate((1.0, 1.5, 2.0))],
            "text": ["a red circle", "two blue squares", "a green star"],
            "transcript": ["a red circle", "two blue square", "the green car"],
        }
    ).cast_column("audio", Audio())
    folder = tmp_path_factory.mktemp("plain")
    (folder / "data").mkdir()
    ds.to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return folder


def test_plain_parquet_dataset(plain_dir: Path, tmp_path: Path) -> None:
    audit = build_audit(plain_dir)
    r = audit.report
    assert r["dataset"]["kind"] == "parquet"
    missing = " ".join(r["dataset"]["missing"])
    assert "stats.json" in missing and "rejects/" in missing and "manifest.yaml" in missing
    assert r["funnel"]["source"] == 3 and r["funnel"]["kept"] == 3 and r["cost"] is None
    assert sorted(audit.records["wer"]) == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3)]
    assert r["duration"]["kept"]["total"] == pytest.approx(4.5)
    assert r["calibration"]["likely_ok"] == 2  # "squares"/"square" is a near-miss; "star"/"car" is not
    assert [w["text"] for w in r["worst"]] == ["a green star", "two blue squares"]
    html = write_report(plain_dir, tmp_path).read_text()
    assert "Not in this dataset" in html and "No stats.json with model-seconds" in html
    assert html.count('src="data:audio/wav;base64,') == 2


@pytest.mark.parametrize("bad", ["missing", "empty"])
def test_audit_of_a_folder_without_data_says_so(tmp_path: Path, bad: str) -> None:
    from datagen.cli import main

    target = tmp_path / "nothing"
    if bad == "empty":
        target.mkdir()
    assert main(["audit", str(target), "--out", str(tmp_path / "r")]) == 2


def test_a_run_without_speech_still_reads_as_datagen_with_pass_rate(tmp_path: Path) -> None:
    """CoT-like data: messages + pass_rate, no speech column; run.json marks it as a datagen run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "data").mkdir()
    turn = [{"role": "user", "content": "2+2?", "audio": None}, {"role": "assistant", "content": "4", "audio": None}]
    messages = [turn]
    table = pa.table({"id": ["p1#t0", "p1#t1", "p2#t0"], "messages": messages * 3, "pass_rate": [0.5, 0.5, 1.0]})
    pq.write_table(table, tmp_path / "data" / "train-00000-of-00001.parquet")
    (tmp_path / "run.json").write_text(json.dumps({"manifest_hash": "abc", "datagen": "0.1.0"}))
    (tmp_path / "stats.json").write_text(
        json.dumps({"seen": 3, "kept": 3, "dropped": {}, "rejection_sampling": {"problems": 2, "pass_at_n": 1.0}})
    )
    audit = build_audit(tmp_path)
    r = audit.report
    assert r["dataset"]["kind"] == "datagen" and r["wer"] is None and r["voices"] is None
    assert r["pass_rate"]["records"] == 3 and r["pass_rate"]["mean_pass_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert r["pass_rate"]["per_problem"]["problems"] == 2
    html = write_report(tmp_path, tmp_path / "report").read_text()
    assert "pass@N per problem (stats.json)" in html and "No WER in this data" in html


def test_funnel_names_fan_out_when_steps_emit_several_records_per_input() -> None:
    from datagen.audit import html

    stages = [{"step": "cot", "reason": "no_correct_trace", "dropped": 2, "remaining": 5}]
    f = {"source": 7, "records": 6, "stages": stages, "kept": 5, "yield": 5 / 7, "from": "stats.json"}
    page = html._funnel({"funnel": f})
    assert "records out of the steps" in page and ">6<" in page and ">7<" in page
    same = html._funnel({"funnel": {**f, "records": 7}})
    assert "records out of the steps" not in same
