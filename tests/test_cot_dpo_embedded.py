"""The shipped manifests on the embedded SmolLM2-135M-Instruct (hf_lm), on two shipped problems with a small N.

The 135M model is often wrong, so these tests do not ask for a yield: they check that whatever is kept really
verifies against the shipped reference, that every problem is accounted for, and that the stats add up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import REPO, write_manifest
from filters.answers import verify

pytestmark = [pytest.mark.embedded, pytest.mark.slow]


def _unavailable() -> str | None:
    from datagen.backends.hf_lm import HFCausalLM

    return HFCausalLM.unavailable_reason()


if reason := _unavailable():
    pytest.skip(f"hf_lm unavailable: {reason}", allow_module_level=True)

MATH = REPO / "manifests" / "data" / "math" / "train.jsonl"


def shipped(name: str, tmp: Path, limit: int, problems: Path = MATH, **step: Any) -> Any:
    data = yaml.safe_load((REPO / "manifests" / f"{name}.yaml").read_text())
    data["input"] = {"path": str(problems), "limit": limit}
    data["output"]["path"] = str(tmp / "out")
    data["steps"][0].update(step)
    return load_manifest(write_manifest(tmp / "m.yaml", data))


def references() -> dict[str, str]:
    return {r["id"]: r["answer"] for r in map(json.loads, MATH.read_text().splitlines())}


def test_cot_manifest_on_two_problems(tmp_path: Path) -> None:
    from datasets import load_dataset

    stats = run(shipped("cot", tmp_path, 2, n=2, round_size=2, max_new_tokens=96))
    rs = stats["rejection_sampling"]
    assert stats["seen"] == stats["kept"] + sum(stats["dropped"].values())
    assert rs["problems"] == 2 and rs["samples_budget"] == 4 and rs["samples_drawn"] == 4 - rs["samples_saved"]
    assert set(stats["dropped"]) <= {"cot:no_correct_trace"}
    assert stats["backend_seconds"]["lm"]["calls"] == 1  # n = round_size: one round, both problems in one batch
    ds = load_dataset(str(tmp_path / "out"))["train"]
    refs = references()
    for row in ds:
        assert verify(row["messages"][1]["content"], refs[row["id"].split("#")[0]]).match
        assert row["generation"]["generator"].startswith("hf_lm:SmolLM2-135M")
        assert row["finish_reason"] == "stop" and row["label_source"] == "reference"  # never a cut-off trace
        assert len(row["traces"]) == row["samples_drawn"] and sum(t["correct"] for t in row["traces"]) == row["correct"]
        assert {t["finish_reason"] for t in row["traces"]} <= {"stop", "length"}  # hf_lm says how each one ended
    trl = (tmp_path / "out" / "export" / "trl" / "train.jsonl").read_text().splitlines()
    assert len(trl) == len(ds)


def test_dpo_manifest_on_one_problem(tmp_path: Path) -> None:
    # SmolLM2-135M gets "2 + 2" right most of the time and wrong some of the time: both sides of a pair. (The
    # shipped problems are beyond it at this budget: 0 of 8 traces right on "3 + 5", so no pair to check.)
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"id": "add-0", "question": "What is 2 + 2?", "answer": "4"}) + "\n")
    stats = run(shipped("dpo", tmp_path, 1, problems, n=4, round_size=4, max_new_tokens=96))
    assert stats["seen"] == stats["kept"] + sum(stats["dropped"].values())
    assert set(stats["dropped"]) <= {"dpo:no_correct_trace", "dpo:no_wrong_trace"}
    assert stats["rejection_sampling"]["pairs_built"] == stats["kept"]
    rows = [json.loads(line) for line in (tmp_path / "out" / "export" / "trl" / "train.jsonl").read_text().splitlines()]
    # sampling on another CPU may draw other traces: a yield is not asked for, but here this problem gives pairs
    if rows:  # SmolLM2 scores its own wrong traces: the hardest negative is the one it finds most likely
        from datasets import load_dataset

        ds = load_dataset(str(tmp_path / "out"))["train"]
        assert set(ds["pairing"]) == {"hardest_negative:likelihood"} and None not in ds["rejected_score"]
        assert set(ds["finish_reason"]) | set(ds["rejected_finish_reason"]) == {"stop"}
    for row in rows:
        assert verify(row["chosen"][0]["content"], "4").match
        assert not verify(row["rejected"][0]["content"], "4").match
