"""The audit's "Drop reasons" section: every `step:reason` (any step) with its count and one real example."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datagen.audit import build_audit, write_report
from datagen.cli import main
from datagen.testing import write_manifest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def filtered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped QA pairs through qa_consistency (`datagen run`), then trace_check (`datagen filter`): 6 reasons
    over two steps and two commands, more than the 5 a summary would show."""
    tmp = tmp_path_factory.mktemp("drops")
    assert main(["run", str(ROOT / "manifests" / "qa_check.yaml"), "--out", str(tmp / "run"), "--no-progress"]) == 0
    curate = write_manifest(tmp / "curate.yaml", {"name": "traces", "steps": [{"step": "trace_check"}]})
    assert main(["filter", str(tmp / "run"), "--manifest", str(curate), "--out", str(tmp / "out")]) == 0
    return tmp / "out"


def _rejects(folder: Path) -> list[dict[str, Any]]:
    return [r for f in sorted((folder / "rejects").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def _copy(filtered: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(filtered, tmp_path / "dataset"))


def test_every_reason_has_its_count_and_a_real_example(filtered: Path) -> None:
    stats = json.loads((filtered / "stats.json").read_text())
    rejects = _rejects(filtered)
    drops = build_audit(filtered).report["drops"]
    rows = {f"{r['step']}:{r['reason']}": r for r in drops["reasons"]}
    assert {k: r["dropped"] for k, r in rows.items()} == stats["dropped"]
    assert len(rows) == 6 and {k.split(":")[0] for k in rows} == {"qa_consistency", "trace_check"}
    assert drops["examples_from"] == "rejects/" and drops["without_example"] == 0
    for key, row in rows.items():  # the example is a reject of exactly that reason, with its own detail
        match = [r for r in rejects if r["id"] == row["example"]["id"] and f"{r['step']}:{r['reason']}" == key]
        assert match and match[0]["detail"] == row["example"]["detail"] != ""
    assert sum(r["share"] for r in rows.values()) == pytest.approx(1.0, abs=1e-3)
    assert rows["qa_consistency:question_not_in_passage"]["example"]["id"] == "lighthouse-4"  # the bicycles
    # stats.json (run, then filter) holds one example per reason too, for every reason
    assert set(stats["drop_examples"]) == set(stats["dropped"])
    assert {k: r["example"] for k, r in rows.items()} == stats["drop_examples"]


def _stats_examples(folder: Path, examples: Any) -> None:
    stats = json.loads((folder / "stats.json").read_text())
    stats["drop_examples"] = examples
    (folder / "stats.json").write_text(json.dumps(stats))


HOSTILE_DETAIL = "<script>alert(1)</script>" + "x" * 10_000
# (what is done to the folder, where the examples come from, how many reasons have none)
CASES = {
    "clean": (lambda f: None, "rejects/", 0),
    "no rejects, stats.json examples": (lambda f: shutil.rmtree(f / "rejects"), "stats.json", 0),
    "no rejects, malformed examples": (
        lambda f: (shutil.rmtree(f / "rejects"), _stats_examples(f, {"trace_check:truncated": ["not", "a", "dict"]})),
        None,
        6,
    ),
    "no rejects, hostile detail": (
        lambda f: (
            shutil.rmtree(f / "rejects"),
            _stats_examples(f, {"trace_check:truncated": {"id": 7, "detail": HOSTILE_DETAIL}}),
        ),
        "stats.json",
        5,
    ),
    "no rejects, examples not an object": (
        lambda f: (shutil.rmtree(f / "rejects"), _stats_examples(f, "everything")),
        None,
        6,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_examples_from_rejects_else_stats_json_and_never_trusted(filtered: Path, tmp_path: Path, case: str) -> None:
    folder = _copy(filtered, tmp_path)
    change, origin, without = CASES[case]
    change(folder)
    report = json.loads(write_report(folder, tmp_path / "r.json", fmt="json").read_text())
    html = write_report(folder, tmp_path / "r.html").read_text()
    drops = report["drops"]
    assert (drops["examples_from"], drops["without_example"]) == (origin, without)
    assert len(drops["reasons"]) == 6  # the counts are there whatever the examples
    assert '<section id="drops">' in html and "<script>" not in html
    truncated = next(r for r in drops["reasons"] if r["reason"] == "truncated")
    if case == "no rejects, hostile detail":
        assert truncated["example"]["id"] == "7" and len(truncated["example"]["detail"]) == 300
        assert "&lt;script&gt;alert(1)" in html
    elif origin:
        assert truncated["example"]["detail"] == "no final answer is stated" and "no final answer is stated" in html


def test_a_dataset_with_no_drops_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "pairs"
    data = folder / "pairs.jsonl"
    data.parent.mkdir()
    good = {"id": "ok", "passage": "The tower is 330 metres tall.", "question": "How tall is the tower?"}
    data.write_text(json.dumps({**good, "answer": "330 metres."}) + "\n")
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "manifests" / "qa_check.yaml"), "--input", str(data), "--out", str(out)]) == 0
    assert build_audit(out).report["drops"] is None
    assert "Nothing was dropped" in write_report(out, tmp_path / "r.html").read_text()
