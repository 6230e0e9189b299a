"""Both shipped spoken-QA manifests on 2 samples with the real engines: piper, Whisper tiny.en, SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from datagen import registry
from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import REPO, write_manifest

pytest.importorskip("piper")
pytest.importorskip("faster_whisper")
if "hf_lm" not in registry.BACKENDS:
    pytest.skip("the hf_lm backend is not in the registry", allow_module_level=True)
if registry.backend_class("hf_lm").unavailable_reason():
    pytest.skip(registry.backend_class("hf_lm").unavailable_reason(), allow_module_level=True)

SPEECH_REASONS = {"wer_above_max", "tts_failed", "asr_failed", "audio_too_long"}


def _shipped(tmp_path: Path, name: str, limit: int, **step: object) -> tuple[Path, dict]:
    data = yaml.safe_load((REPO / "manifests" / name).read_text())
    data["input"]["path"] = str((REPO / "manifests" / data["input"]["path"]).resolve())
    data["input"]["limit"] = limit
    out = tmp_path / "out"
    data["output"]["path"] = str(out)
    data["steps"][0].update(step)
    return out, run(load_manifest(write_manifest(tmp_path / name, data)))


def _check_export(out: Path, kept: int) -> list[dict]:
    path = out / "export" / "swift" / "train.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == kept
    for r in records:
        assert sum(m["content"].count("<audio>") for m in r["messages"]) == len(r["audios"]) >= 1
    return records


@pytest.mark.embedded
@pytest.mark.slow
def test_shipped_speech_qa_on_real_engines(tmp_path: Path) -> None:
    from datasets import load_dataset

    out, stats = _shipped(tmp_path, "speech_qa.yaml", 3)
    assert stats["seen"] == 3
    assert {k.split(":")[1] for k in stats["dropped"]} <= SPEECH_REASONS | {"generation_failed"}
    assert stats["kept"] >= 2, stats["dropped"]  # simple questions: tiny.en hears them
    ds = load_dataset(str(out))["train"]
    for row in ds:
        speech = row["speech"][0]
        assert speech["tts"] == "piper" and speech["asr"].startswith("faster_whisper") and speech["wer"] <= 0.2
        assert row["generator"].startswith("hf_lm:SmolLM2") and row["prompts"][0].startswith("sqqa_spoken_answer@")
        assert row["messages"][1]["content"] and "*" not in row["messages"][1]["content"]
        assert row["answer_original"]
        assert row["audios"][0].get_all_samples().data.abs().max() > 0.05
    _check_export(out, stats["kept"])
    assert stats["backend_seconds"]["smollm2"]["seconds"] > 0


@pytest.mark.embedded
@pytest.mark.slow
def test_shipped_spoken_passage_qa_on_real_engines(tmp_path: Path) -> None:
    from datasets import load_dataset

    out, stats = _shipped(tmp_path, "spoken_passage_qa.yaml", 2)
    pair_reasons = {"duplicate_pair", "not_grounded", "empty_pair", "overlong_pair", "malformed_pair", "no_valid_pairs"}
    pair_reasons |= {"degenerate_question", "answer_echoes_question", "question_not_in_passage"}
    pair_reasons |= {"answer_contradicts_passage", "answer_not_in_passage", "answer_off_target"}
    assert {k.split(":")[1] for k in stats["dropped"]} <= SPEECH_REASONS | pair_reasons
    assert stats["backend_seconds"]["smollm2"]["calls"] >= 1  # both passages were heard well enough to ask about
    # SmolLM2-135M writes few good pairs and the pair check may reject them all; `datasets` cannot load an empty
    # split, so the kept rows are read only when there are some
    ds = load_dataset(str(out))["train"] if stats["kept"] else []
    assert len(ds) == stats["kept"]
    for row in ds:  # whatever SmolLM2 wrote that survived is grounded in the passage it heard
        assert row["id"].split("#")[0] in {"passage-lighthouse", "passage-honeybees"}
        assert row["grounding"] >= 0.6 and row["generator"].startswith("hf_lm:SmolLM2")
        assert [s["part"] for s in row["speech"]] == ["passage"] * len(row["audios"])
        assert all(s["duration"] <= 30 and s["wer"] <= 0.2 for s in row["speech"])
        assert " ".join(s["text"] for s in row["speech"]) == row["passage"]
    rejects = load_dataset("parquet", data_files=str(out / "rejects" / "*.parquet"))["train"]
    # kept or dropped, each pair SmolLM2 wrote comes out (here it is often all dropped, so the loop above runs on none)
    assert len(rejects) == sum(stats["dropped"].values()) and len(rejects) + len(ds) > 0
    assert all(r["reason"] for r in rejects)
    _check_export(out, stats["kept"])
