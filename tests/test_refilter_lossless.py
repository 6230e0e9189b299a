"""`datagen filter` with a filter that drops nothing gives back every generator's dataset: no column, value, row or
reject lost. (The `passage` column once was: it was read as a sample field, not a score, and vanished.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sampling_fixtures import manifest as sampling_manifest
from sampling_fixtures import write_problems
from test_speech_qa import RECORDS as SPOKEN_QUESTIONS
from test_spoken_passage_qa import LLM, STEP
from test_spoken_passage_qa import RECORDS as PASSAGES

from datagen.manifest import load_manifest
from datagen.refilter import load_curate_manifest, refilter
from datagen.run import run
from datagen.testing import fake_manifest, fake_speech_step_manifest, write_jsonl, write_manifest, write_swift_dataset

ROOT = Path(__file__).resolve().parent.parent

# every check off or at its loosest: whatever a generator wrote passes
PASS_THROUGH = {
    "name": "pass-through",
    "steps": [
        {
            "step": "text_sanity",
            "min_query_words": 0,
            "min_answer_words": 0,
            "script": "any",
            "english": False,
            "max_query_words": 100_000,
            "max_query_chars": 1_000_000,
            "max_answer_words": 100_000,
            "max_answer_chars": 1_000_000,
        }  # fmt: skip
    ],
}


def _vision_speech(tmp: Path) -> Any:
    data = write_swift_dataset(tmp / "data", n=6, extra_lines=[b"{broken json"])
    return load_manifest(write_manifest(tmp / "m.yaml", fake_manifest(data, tmp / "out", shard_size=3)))


def _speech_qa(tmp: Path) -> Any:
    data = write_jsonl(tmp / "data" / "qa.jsonl", SPOKEN_QUESTIONS)
    spec = fake_speech_step_manifest({"step": "speech_qa"}, data, tmp / "out")
    return load_manifest(write_manifest(tmp / "m.yaml", spec))


def _spoken_passage_qa(tmp: Path) -> Any:
    data = write_jsonl(tmp / "data" / "passages.jsonl", PASSAGES)
    spec = fake_speech_step_manifest(STEP, data, tmp / "out", llm=LLM)
    return load_manifest(write_manifest(tmp / "m.yaml", spec))


def _cot(tmp: Path) -> Any:
    return sampling_manifest(tmp, {"step": "cot", "k": 2}, write_problems(tmp), ["swift"])


def _dpo(tmp: Path) -> Any:
    return sampling_manifest(tmp, {"step": "dpo", "pairs_per_problem": 2}, write_problems(tmp), ["swift"])


def _qa_check(tmp: Path) -> Any:
    spec = load_manifest(ROOT / "manifests" / "qa_check.yaml")
    return spec.model_copy(update={"output": spec.output.model_copy(update={"path": tmp / "out"})})


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [row for f in sorted(folder.glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


@pytest.mark.parametrize(
    "make", [_vision_speech, _speech_qa, _spoken_passage_qa, _cot, _dpo, _qa_check], ids=lambda f: f.__name__[1:]
)
def test_a_pass_through_filter_loses_nothing(tmp_path: Path, make: Callable[[Path], Any]) -> None:
    manifest = make(tmp_path)
    run(manifest)
    source = Path(manifest.output.path)
    before = {r["id"]: r for r in _rows(source / "data")}
    assert before, "the generator kept nothing: nothing to compare"
    curate = load_curate_manifest(write_manifest(tmp_path / "curate.yaml", PASS_THROUGH))
    stats = refilter(source, curate, tmp_path / "refiltered")
    after = {r["id"]: r for r in _rows(tmp_path / "refiltered" / "data")}
    assert stats["kept"] == len(before) and set(after) == set(before)
    for key, row in before.items():
        assert {c: after[key].get(c, "<missing>") for c in row} == row, key
    carried = {(r["id"], r["reason"]) for r in _rows(tmp_path / "refiltered" / "rejects")}
    assert carried == {(r["id"], r["reason"]) for r in _rows(source / "rejects")}
