"""difficulty_band: the pass-rate window on clean, boundary, missing and malformed scores, in a run and re-filtered."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError
from sampling_fixtures import manifest, write_problems

from datagen.cli import main
from datagen.records import Sample
from datagen.refilter import filter_names
from datagen.run import run
from datagen.testing import write_manifest
from filters.difficulty_band import DifficultyBand, DifficultyBandConfig


def judge(rate: object, **config: float) -> tuple[bool, str, str]:
    verdict = DifficultyBand(DifficultyBandConfig(**config)).judge(Sample(id="s", meta={"pass_rate": rate}))
    return verdict.keep, verdict.reason, verdict.detail


@pytest.mark.parametrize(
    ("rate", "config", "keep", "reason"),
    [
        (0.5, {}, True, ""),
        (0.1, {}, True, ""),  # bounds are inclusive
        (0.9, {}, True, ""),
        (0.0999, {}, False, "too_hard"),
        (0.0, {}, False, "too_hard"),
        (0.9001, {}, False, "too_easy"),
        (1.0, {}, False, "too_easy"),
        (1, {"max_pass_rate": 1.0}, True, ""),  # an int rate is a rate
        (0.0, {"min_pass_rate": 0.0}, True, ""),
        (0.5, {"min_pass_rate": 0.5, "max_pass_rate": 0.5}, True, ""),
        (None, {}, False, "missing_score"),
        ("0.5", {}, False, "missing_score"),  # malformed: not a number
        (True, {}, False, "missing_score"),  # a bool is not a rate
        (float("nan"), {}, False, "invalid_score"),
        (float("inf"), {}, False, "invalid_score"),
        (-0.1, {"min_pass_rate": 0.0}, False, "invalid_score"),
        (1.5, {"max_pass_rate": 1.0}, False, "invalid_score"),
    ],
)
def test_band(rate: object, config: dict[str, float], keep: bool, reason: str) -> None:
    assert judge(rate, **config)[:2] == (keep, reason)


def test_the_rate_and_the_bound_are_in_the_detail() -> None:
    assert judge(0.05)[2] == "pass_rate 0.05 < 0.1"
    assert judge(0.95, max_pass_rate=0.8)[2] == "pass_rate 0.95 > 0.8"
    assert "None" in judge(None)[2]


def test_missing_key_is_a_missing_score() -> None:
    verdict = DifficultyBand().judge(Sample(id="s"))
    assert (verdict.keep, verdict.reason) == (False, "missing_score")


@pytest.mark.parametrize("config", [{"min_pass_rate": 0.8, "max_pass_rate": 0.2}, {"max_pass_rate": 1.5}])
def test_bad_bands_are_manifest_errors(config: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        DifficultyBandConfig(**config)


def _rows(folder: Path, kind: str) -> list[dict]:
    return pq.read_table(sorted((folder / kind).glob("*.parquet"))).to_pylist()


def test_gates_the_rate_cot_measured_in_a_run_and_again_with_datagen_filter(tmp_path: Path) -> None:
    assert "difficulty_band" in filter_names()
    data = write_problems(tmp_path)
    # fake_llm picks among scripted replies (some right, oranges never); n = round_size: the rate over all 6 draws
    m = manifest(tmp_path, {"step": "cot", "k": 6, "n": 6, "round_size": 6, "temperature": 0.7}, data, [])
    run(m)
    source = tmp_path / "out"
    rates = {r["id"].split("#")[0]: r["pass_rate"] for r in _rows(source, "data")}
    assert set(rates) == {"p0", "p1"} and 0 < min(rates.values()) < max(rates.values()) < 1
    easy, hard = sorted(rates, key=rates.get, reverse=True)
    cut = (rates[easy] + rates[hard]) / 2  # the easier problem is now "too easy"
    curate = write_manifest(
        tmp_path / "c.yaml",
        {"name": "band", "steps": [{"step": "difficulty_band", "min_pass_rate": 0.0, "max_pass_rate": cut}]},
    )
    out = tmp_path / "banded"
    assert main(["filter", str(source), "--manifest", str(curate), "--out", str(out)]) == 0
    assert {r["id"].split("#")[0] for r in _rows(out, "data")} == {hard}
    dropped = [r for r in _rows(out, "rejects") if r["step"] == "difficulty_band"]
    assert dropped and {r["reason"] for r in dropped} == {"too_easy"}
    assert all(f"pass_rate {rates[easy]:.4g} > " in r["detail"] for r in dropped)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["dropped"]["difficulty_band:too_easy"] == len(dropped)
