"""`datagen audit` on a dataset folder someone else made: it reports, fast and small, and never crashes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deadline import within
from test_safe_yaml import billion_laughs

from datagen.audit import write_report
from datagen.audit.untrusted import MAX_TEXT_CHARS
from datagen.cli import main
from datagen.manifest import ManifestError, load_manifest
from datagen.run import run
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset

MATH = "$\\frac{1}{$"  # an unbalanced math-text expression: matplotlib's parser raises on it


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile-audit")
    data = write_swift_dataset(tmp / "data", n=6, extra_lines=[b"{broken"])
    out = tmp / "out"
    run(load_manifest(write_manifest(tmp / "m.yaml", fake_manifest(data, out, asr={"word_error_rate": 0.15}))))
    return out


@pytest.fixture
def run_copy(clean_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean_run, tmp_path / "dataset"))


def _audit_both(dataset: Path, tmp_path: Path) -> tuple[str, dict]:
    with within(20.0, "the audit"):
        html = write_report(dataset, tmp_path / "report", fmt="html", worst=5).read_text()
        report = json.loads(write_report(dataset, tmp_path / "report", fmt="json", worst=5).read_text())
    return html, report


def test_billion_laughs_manifest_is_refused_not_expanded(run_copy: Path, tmp_path: Path) -> None:
    (run_copy / "manifest.yaml").write_text(billion_laughs(8))
    html, report = _audit_both(run_copy, tmp_path)
    assert len(html) < 2_000_000 and (tmp_path / "report" / "report.json").stat().st_size < 200_000
    assert any("manifest.yaml" in m and "aliases" in m for m in report["dataset"]["missing"])
    with within(5.0, "load_manifest"), pytest.raises(ManifestError, match="aliases"):
        load_manifest(run_copy / "manifest.yaml")


def test_math_text_in_names_reasons_and_voices_is_drawn_literally(run_copy: Path, tmp_path: Path) -> None:
    stats = json.loads((run_copy / "stats.json").read_text())
    stats["backend_seconds"][MATH] = stats["backend_seconds"].pop("tts")
    stats["backends"][MATH] = stats["backends"].pop("tts")
    stats["dropped"] = {f"max_wer:{MATH}" if k.startswith("max_wer") else k: v for k, v in stats["dropped"].items()}
    (run_copy / "stats.json").write_text(json.dumps(stats))
    for path in (run_copy / "rejects").glob("*.parquet"):
        table = pq.read_table(path)
        metas = [json.loads(m) for m in table.column("meta").to_pylist()]
        for meta in metas:
            for turn in meta.get("speech") or []:
                turn["voice"] = MATH
        reasons = [MATH if r == "wer_above_max" else r for r in table.column("reason").to_pylist()]
        table = table.set_column(table.schema.get_field_index("meta"), "meta", pa.array(map(json.dumps, metas)))
        table = table.set_column(table.schema.get_field_index("reason"), "reason", pa.array(reasons))
        pq.write_table(table, path)
    html, report = _audit_both(run_copy, tmp_path)
    assert any(row["backend"] == MATH for row in report["cost"]["backends"])
    assert any(s["reason"] == MATH for s in report["funnel"]["stages"])
    assert any(w["voice"] == f"fake_tts:{MATH}" for w in report["worst"])  # the rejects above were rewritten
    assert "&lt;" not in MATH and "\\frac{1}{" in html


@pytest.mark.parametrize(
    "stats",
    [
        {"dropped": ["a", "b"], "seen": "many", "kept": None, "backend_seconds": {"tts": 5}, "backends": []},
        {"dropped": {"x:y": "lots"}, "seen": 1e400, "backend_seconds": {"tts": {"seconds": "s", "calls": []}}},
        {"dropped": {"x:y": 10**30}, "seen": -5, "audio_seconds": "long", "rejection_sampling": [1, 2]},
        [1, 2, 3],
    ],
    ids=["lists", "strings", "huge", "not-a-mapping"],
)
def test_malformed_stats_json_degrades_to_a_note(run_copy: Path, tmp_path: Path, stats: object) -> None:
    (run_copy / "stats.json").write_text(json.dumps(stats))
    (run_copy / "run.json").write_text("[" * 100_000)
    html, report = _audit_both(run_copy, tmp_path)
    assert "datagen audit" in html and report["dataset"]["kept"] > 0


def _plain(tmp_path: Path, text: list[object], transcript: list[object]) -> Path:
    folder = tmp_path / "plain"
    folder.mkdir()
    pd.DataFrame({"text": text, "transcript": transcript}).to_parquet(folder / "train.parquet")
    return folder


def test_integer_text_column_is_read_as_text(tmp_path: Path) -> None:
    html, report = _audit_both(_plain(tmp_path, [123, 456], ["one two three", "456"]), tmp_path)
    assert report["dataset"]["kept"] == 2 and report["wer"]["kept"]["count"] == 2


@pytest.mark.parametrize(
    ("text", "transcript"),
    [("m" * 100_000 + "x", "x" + "m" * 100_000), ("cat sat " * 12_500, "sat cat " * 12_500)],
    ids=["one-word", "25k-words"],
)
def test_a_100k_character_cell_is_capped(tmp_path: Path, text: str, transcript: str) -> None:
    html, report = _audit_both(_plain(tmp_path, [text, "a cat"], [transcript, "a cat"]), tmp_path)
    assert report["dataset"]["kept"] == 2 and len(html) < 1_000_000
    assert report["worst"] and all(len(w["text"]) <= MAX_TEXT_CHARS for w in report["worst"])


def test_filter_of_a_dataset_with_a_billion_laughs_manifest(run_copy: Path, tmp_path: Path) -> None:
    """`datagen filter` copies the source's manifest.yaml into the new one: a refused one is not expanded."""
    (run_copy / "manifest.yaml").write_text(billion_laughs(8))
    curate = write_manifest(tmp_path / "curate.yaml", {"name": "curated", "steps": [{"step": "text_sanity"}]})
    out = tmp_path / "curated"
    with within(30.0, "datagen filter"):
        assert main(["filter", str(run_copy), "--manifest", str(curate), "--out", str(out)]) == 0
    assert (out / "manifest.yaml").stat().st_size < 20_000


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\nshowpage\n"


@pytest.mark.parametrize(
    ("blob", "shown"),
    [(EPS, "unreadable image"), ("not bytes", "—"), (b"\x89PNG\r\n\x1a\n garbage", "unreadable image")],
    ids=["eps", "str", "broken-png"],
)
def test_report_images_never_reach_ghostscript(monkeypatch: pytest.MonkeyPatch, blob: object, shown: str) -> None:
    """A dataset's image cell is rendered only from the allow-listed formats: PostScript is never interpreted."""
    import PIL.EpsImagePlugin

    from datagen.audit.html_parts import image_tag

    launched: list[object] = []
    monkeypatch.setattr(PIL.EpsImagePlugin, "Ghostscript", lambda *a, **k: launched.append(a) or 1 / 0)
    assert shown in image_tag(blob)  # type: ignore[arg-type]
    assert launched == []


def test_audio_cell_that_is_not_bytes_is_shown_as_missing(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    table = pa.table(
        {
            "text": ["a red cat", "a blue dog"],
            "transcript": ["a bed cat", "a blue dog"],
            "audio": pa.array([{"bytes": "RIFF0000WAVE"}, {"bytes": None}], pa.struct([("bytes", pa.string())])),
            "image": pa.array([{"bytes": "x"}, {"bytes": None}], pa.struct([("bytes", pa.string())])),
        }
    )
    pq.write_table(table, folder / "train.parquet")
    html, report = _audit_both(folder, tmp_path)
    assert report["dataset"]["kept"] == 2 and "no audio stored" in html


def test_truncated_and_foreign_parquet_files_are_skipped_with_a_note(run_copy: Path, tmp_path: Path) -> None:
    shards = sorted((run_copy / "data").glob("*.parquet"))
    shards[0].write_bytes(shards[0].read_bytes()[:100])  # truncated
    (run_copy / "data" / "zz-foreign.parquet").write_bytes(b"PAR1 this is not parquet")
    html, report = _audit_both(run_copy, tmp_path)
    assert any("2 unreadable parquet file(s)" in m for m in report["dataset"]["missing"])
    assert report["dataset"]["data_files"] == len(shards) - 1
