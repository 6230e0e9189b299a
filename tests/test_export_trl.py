"""End to end on fake_llm through `datagen.run.run`: loadable datasets, stats, and the TRL / ms-swift exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sampling_fixtures import FIXED, manifest, write_problems

from datagen.run import run
from datagen.testing import tiny_png


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_cot_run_gives_a_loadable_dataset_stats_and_trl_sft_export(tmp_path: Path) -> None:
    from datasets import load_dataset

    m = manifest(tmp_path, {"step": "cot", "k": 2}, write_problems(tmp_path), ["trl", "swift"])
    stats = run(m)
    out = tmp_path / "out"
    ds = load_dataset(str(out))["train"]
    assert stats["kept"] == len(ds) > 0
    assert {r["id"].split("#")[0] for r in ds} == {"p0", "p1"}
    assert all(r["verification"]["match"] and r["generation"]["generator"] == "fake_llm" for r in ds)
    rs = stats["rejection_sampling"]
    assert rs["problems"] == 3 and rs["pass_at_n"] == round(2 / 3, 4) and rs["kept_traces"] == len(ds)
    assert rs["samples_budget"] == 18 and rs["samples_drawn"] + rs["samples_saved"] == 18
    assert rs["samples_drawn"] == sum(r["samples_drawn"] for r in ds if r["trace_index"] == 0) + 6  # p2 spent all 6
    assert stats["dropped"] == {"cot:no_correct_trace": 1, "read:invalid_json": 1}
    assert saved_json(out)["rejection_sampling"] == rs

    trl = load_dataset("json", data_files=str(out / "export" / "trl" / "train.jsonl"))["train"]
    assert set(trl.column_names) == {"id", "messages"}
    row = trl[0]
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    assert isinstance(row["messages"][0]["content"], str) and "The answer is" in row["messages"][1]["content"]
    swift = read_jsonl(out / "export" / "swift" / "train.jsonl")
    assert len(swift) == len(ds) and all("rejected_response" not in r for r in swift)


def saved_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "stats.json").read_text())


def test_dpo_run_gives_trl_preference_and_swift_rejected_response(tmp_path: Path) -> None:
    from datasets import load_dataset

    step = {"step": "dpo", "pairs_per_problem": 2, "policy": "hardest_negative", "correction": True}
    stats = run(manifest(tmp_path, step, write_problems(tmp_path), ["trl", "swift"]))
    out = tmp_path / "out"
    ds = load_dataset(str(out))["train"]
    assert stats["rejection_sampling"]["pairs_built"] == len(ds) == stats["kept"]
    by_problem = {r["id"].split("#")[0] for r in ds}
    assert by_problem == {"p0", "p1", "p2"}  # p2 through the verified correction
    fixed = [r for r in ds if r["corrected"]]
    assert fixed and all(r["messages"][1]["content"] == FIXED and r["id"].startswith("p2#") for r in fixed)

    trl = load_dataset("json", data_files=str(out / "export" / "trl" / "train.jsonl"))["train"]
    assert set(trl.column_names) == {"id", "prompt", "chosen", "rejected"}
    for row, src in zip(trl, ds, strict=True):
        assert [t["role"] for t in row["prompt"]] == ["user"] and row["prompt"][0]["content"] == src["messages"][0][
            "content"
        ]
        assert row["chosen"] == [{"role": "assistant", "content": src["messages"][1]["content"]}]
        assert row["rejected"] == [{"role": "assistant", "content": src["rejected"]}]
        assert row["chosen"] != row["rejected"]
    swift = read_jsonl(out / "export" / "swift" / "train.jsonl")
    assert [r["rejected_response"] for r in swift] == list(ds["rejected"])
    assert all(r["messages"][-1]["role"] == "assistant" for r in swift)


def test_images_ride_along_as_typed_parts_and_files(tmp_path: Path) -> None:
    from datasets import load_dataset

    step = {"step": "dpo", "pairs_per_problem": 1, "policy": "length_matched"}
    run(manifest(tmp_path, step, write_problems(tmp_path, image=True), ["trl"]))
    export = tmp_path / "out" / "export" / "trl"
    rows = read_jsonl(export / "train.jsonl")
    with_image = [r for r in rows if r["id"].startswith("p3#")]
    assert with_image, rows
    row = with_image[0]
    assert [p["type"] for p in row["prompt"][0]["content"]] == ["image", "text"]
    assert row["prompt"][0]["content"][1]["text"] == "How many circles are in the picture?"
    assert (export / row["images"][0]).read_bytes() == tiny_png()
    text_only = [r for r in rows if r is not row]
    assert [r["id"] for r in text_only] == ["p0#p0", "p1#p0"]  # p2 has no correct trace
    assert all(r["images"] == [] for r in text_only)  # one column type across the file
    trl = load_dataset("json", data_files=str(export / "train.jsonl"))["train"]
    assert set(trl.column_names) == {"id", "prompt", "chosen", "rejected", "images", "audios"}


def test_unknown_export_format_is_refused(tmp_path: Path) -> None:
    from datagen.export import export

    with pytest.raises(ValueError, match="valid: swift, trl"):
        export(tmp_path, "parquet")
