"""SQA end to end on the fake engines: chunked spoken passages, model-written pairs, pair filters, fan-out, rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import fake_speech_step_manifest, write_jsonl, write_manifest

BEES = (
    "Honeybees live in colonies with one queen. Workers gather nectar and pollen from flowers, and they fly "
    "far to find them. Nectar is stored in wax cells, where it slowly thickens into honey."
)
TIDES = "Tides are the daily rise and fall of the sea. They are caused by the pull of the Moon."
BREAD = "Bread is made from flour, water, salt and yeast. The yeast makes the dough rise."
RECORDS = [
    {"id": "bees", "passage": BEES},
    {"id": "tides", "passage": TIDES},
    {"id": "bread", "passage": BREAD},
    {
        "id": "own-pair",
        "passage": "The cat sat on the mat.",
        "question": "Where did it sit?",
        "answer": "On the mat.",
    },
    {"id": "empty", "passage": "   "},
    {"id": "huge", "passage": "word " * 20_000},
    {"id": "emoji", "passage": "🌊🌊🌊 🐝🐝"},
    {"id": "russian", "passage": "Пчёлы живут в ульях. Они делают мёд."},
    {"id": "no-passage", "question": "What is a passage?", "answer": "Text."},
    {"id": "nothing", "title": "no usable field"},
]
BEES_REPLY = (
    "Here are three questions.\n"
    "Q: What do workers gather?\nA: Nectar and pollen from flowers.\n"
    "Q: what do WORKERS gather\nA: Nectar.\n"  # a duplicate question
    "Q: Who wrote the passage?\nA: William Shakespeare.\n"  # not in the passage
    "Q: Where is nectar stored?\nA: In wax cells."
)
LLM = {
    "responses": {
        "Honeybees live": [BEES_REPLY],
        "Tides are": ["I think the passage is lovely and I have no questions."],  # prose: no pairs
        "Bread is made": ['[{"question": "What makes the dough rise?", "answer": "The yeast."}, {"question": "'],
    },
    "fail_on": ["Bread is made"],
}
PASSAGE_REJECTS = {
    "tides": "no_valid_pairs",
    "bread": "generation_failed",
    "empty": "empty_text",
    "huge": "passage_too_long",
    "emoji": "not_speakable",
    "russian": "not_speakable",
    "no-passage": "missing_field",
    "nothing": "missing_field",
}
STEP = {"step": "spoken_passage_qa", "generator": "llm", "max_audio_seconds": 2.0, "chars_per_second": 40}


def _run(tmp_path: Path, step: dict | None = None, records: list | None = None, **kwargs) -> tuple[Path, dict]:
    data = write_jsonl(tmp_path / "data" / "passages.jsonl", records or RECORDS)
    out = tmp_path / "out"
    manifest = fake_speech_step_manifest({**STEP, **(step or {})}, data, out, llm=kwargs.pop("llm", LLM), **kwargs)
    return out, run(load_manifest(write_manifest(tmp_path / "m.yaml", manifest)))


def _rejects(out: Path) -> dict[str, str]:
    return {r["id"]: r["reason"] for r in pq.read_table(out / "rejects").to_pylist()}


def _export(out: Path) -> dict[str, dict]:
    lines = (out / "export" / "swift" / "train.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def test_pairs_per_passage_fan_out_with_filters_and_reasons(tmp_path: Path) -> None:
    from datasets import load_dataset

    out, stats = _run(tmp_path)
    # four pairs in the reply, three per passage asked for: the 4th is not used at all
    assert _rejects(out) == {**PASSAGE_REJECTS, "bees#q1": "duplicate_pair", "bees#q2": "not_grounded"}
    ds = load_dataset(str(out))["train"].sort("id")
    assert ds["id"] == ["bees#q0", "own-pair#q0"] and stats["kept"] == 2
    bees = ds[0]
    assert len(bees["audios"]) == 3  # 184 characters at 80 per chunk: three clips of one reader
    assert bees["messages"][0] == {
        "role": "user",
        "content": "<audio><audio><audio>What do workers gather?",
        "audio": None,
    }
    assert bees["messages"][1]["content"] == "Nectar and pollen from flowers."
    assert [s["chunk"] for s in bees["speech"]] == [0, 1, 2] and {s["part"] for s in bees["speech"]} == {"passage"}
    assert " ".join(s["text"] for s in bees["speech"]) == BEES
    assert len({(s["voice_seed"], s["speed"]) for s in bees["speech"]}) == 1  # one reader for the whole passage
    assert bees["wer"] == max(s["wer"] for s in bees["speech"]) == 0.0
    assert bees["passage"] == BEES and bees["pair_source"] == "generated" and bees["pair_index"] == 0
    assert bees["grounding"] == 1.0 and bees["verified"] is None
    assert bees["prompts"][0].startswith("sqa_pairs@v1:") and bees["generator"] == "fake_llm"
    own = ds[1]
    assert own["pair_source"] == "data" and own["prompts"] == [] and own["generator"] is None
    assert own["messages"][0]["content"] == "<audio>Where did it sit?"
    rows = {r["id"]: r for r in pq.read_table(out / "rejects").to_pylist()}
    assert "Shakespeare" in rows["bees#q2"]["messages"][1]["content"] and "grounding 0.0" in rows["bees#q2"]["detail"]
    assert "no question/answer pairs" in rows["tides"]["detail"] and rows["tides"]["audios"] == []
    export = _export(out)
    for record in export.values():  # ms-swift: one <audio> tag per audio file, in order
        assert sum(m["content"].count("<audio>") for m in record["messages"]) == len(record["audios"])
        assert all((out / "export" / "swift" / a).is_file() for a in record["audios"])
    assert export["bees#q0"]["messages"][0]["content"] == "<audio><audio><audio>What do workers gather?"


def test_spoken_question_adds_its_audio_after_the_passage(tmp_path: Path) -> None:
    out, _ = _run(tmp_path, {"spoken_question": True})
    rows = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    bees = rows["bees#q0"]
    assert len(bees["audios"]) == 4 and bees["messages"][0]["audio"] == 3
    assert [s["part"] for s in bees["speech"]] == ["passage"] * 3 + ["question"]
    assert bees["speech"][3]["transcript"] == "What do workers gather?"
    content = _export(out)["bees#q0"]["messages"][0]["content"]
    assert content == "<audio>" * 4  # passage clips, then the spoken question


@pytest.mark.parametrize(
    ("mode", "pair_check", "kept"),
    [
        ("verifier", None, {"bees#q0", "bees#q2"}),  # the verifier alone lets Shakespeare through
        ("verifier", {}, {"bees#q0"}),  # check_pair stops him first: the passage never says who wrote it
        ("both", None, {"bees#q0"}),
    ],
)
def test_verifier_prompt_judges_pairs(tmp_path: Path, mode: str, pair_check: dict | None, kept: set[str]) -> None:
    llm = {
        "responses": {  # the verify prompt holds the passage too: its keys come first
            "Answer: Nectar and pollen": ["Yes."],
            "Answer: William Shakespeare": ["yes"],  # the verifier alone lets it through; `both` checks words too
            "Answer: In wax cells": ["No, it is not in the passage."],
            "Honeybees live": [BEES_REPLY],
        },
    }
    step = {"grounding": mode, "pairs_per_passage": 5, "pair_check": pair_check}
    out, _ = _run(tmp_path, step, records=RECORDS[:1], llm=llm)
    rows = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    assert set(rows) == kept
    assert rows["bees#q0"]["verified"] is True and rows["bees#q0"]["prompts"][1].startswith("sqa_verify@v1:")
    rejects = {r["id"]: r for r in pq.read_table(out / "rejects").to_pylist()}
    assert (
        rejects["bees#q3"]["reason"] == "not_grounded" and json.loads(rejects["bees#q3"]["meta"])["verified"] is False
    )
    assert rejects["bees#q1"]["reason"] == "duplicate_pair"


def test_step_wer_gate_spares_generation(tmp_path: Path) -> None:
    out, stats = _run(tmp_path, {"max_wer": 0.5}, records=RECORDS[:1], asr={"word_error_rate": 1.0})
    assert _rejects(out) == {"bees": "wer_above_max"}
    assert "llm" not in stats["backend_seconds"]  # no model time for a passage nobody could hear
    meta = json.loads(pq.read_table(out / "rejects").to_pylist()[0]["meta"])
    assert meta["wer"] == 1.0 and len(meta["speech"]) == 3


def test_without_a_generator_only_records_with_their_own_pair_pass(tmp_path: Path) -> None:
    records = [RECORDS[0], RECORDS[3]]
    out, stats = _run(tmp_path, {"generator": None}, records=records)
    assert _rejects(out) == {"bees": "missing_field"} and stats["kept"] == 1


def test_several_sampled_replies_pool_their_pairs(tmp_path: Path) -> None:
    replies = [
        "Q: Who leads a colony?\nA: One queen.",
        "Q: Where is nectar stored?\nA: In wax cells.",
        "Q: Who leads a colony?\nA: The queen.",
        "Q: What do workers gather?\nA: Nectar and pollen.",
    ]
    llm = {"responses": {"Honeybees live": replies}}
    step = {"samples": 4, "pairs_per_passage": 1, "temperature": 1.0}
    out, stats = _run(tmp_path, step, records=RECORDS[:1], llm=llm)
    kept = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    rejects = _rejects(out)
    assert set(kept) | set(rejects) == {f"bees#q{k}" for k in range(4)}  # one pair per reply, each accounted for
    questions = [r["messages"][0]["content"].replace("<audio>", "") for r in kept.values()]
    assert len(questions) == len(set(questions)) >= 2  # sampling gave several distinct questions
    assert set(rejects.values()) <= {"duplicate_pair"}


# a generated pair -> the reason it is dropped with (None = kept); what the pair check rejects before any audio
PAIR_CHECKS = [
    ("What do workers gather?", "Nectar and pollen from flowers.", None),
    ("What does nectar slowly thicken into?", "Honey, in wax cells.", None),
    ("Where does nectar thicken into honey?", "In colonies with one queen.", "answer_off_target"),
    ("How many queens live in colonies?", "Two queens live in colonies.", "answer_contradicts_passage"),
    ("What do bumblebees eat in winter?", "Honey stored in wax cells.", "question_not_in_passage"),
    ("What do the workers fly far to find?", "They fly far to find something.", "answer_echoes_question"),
    ("Is nectar stored in wax cells?", "Yes, nectar is stored in wax cells.", "degenerate_question"),
    ("Who leads a colony of honeybees?", "Workers lead it, not a queen.", "answer_contradicts_passage"),
    ("Who wrote about honeybees?", "William Shakespeare.", "not_grounded"),  # the older lexical check comes first
]


@pytest.mark.parametrize("pair_check", [{}, {"min_answer_alignment": 0.0}, None])
def test_pair_check_rejects_pairs_before_their_question_is_spoken(tmp_path: Path, pair_check: dict | None) -> None:
    reply = "\n".join(f"Q: {q}\nA: {a}" for q, a, _ in PAIR_CHECKS)
    llm = {"responses": {"Honeybees live": [reply]}}
    step = {"pairs_per_passage": 20, "spoken_question": True, "pair_check": pair_check}
    out, stats = _run(tmp_path, step, records=RECORDS[:1], llm=llm)
    expected = {f"bees#q{k}": reason for k, (_, _, reason) in enumerate(PAIR_CHECKS)}
    if pair_check is None:  # off: only the lexical grounding check remains
        expected = {k: r if r == "not_grounded" else None for k, r in expected.items()}
    elif pair_check.get("min_answer_alignment") == 0.0:  # an answer from another sentence is let through
        expected = {k: None if r == "answer_off_target" else r for k, r in expected.items()}
    rejects = {r["id"]: r for r in pq.read_table(out / "rejects").to_pylist()}
    kept = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    assert {k: r["reason"] for k, r in rejects.items()} == {k: r for k, r in expected.items() if r}
    assert set(kept) == {k for k, r in expected.items() if r is None}
    for row in rejects.values():  # no audio was spent on a rejected pair's question
        assert {s["part"] for s in json.loads(row["meta"])["speech"]} == {"passage"}
    for row in kept.values():
        assert [s["part"] for s in row["speech"]][-1] == "question"
        scored = pair_check is not None
        assert (row["qa_question_coverage"] is not None) == scored
        if scored:  # scores in meta, so `datagen filter` can re-gate them
            assert row["qa_answer_alignment"] >= pair_check.get("min_answer_alignment", 0.5)
        else:
            assert row["qa_answer_alignment"] is None
    checked = {k: r for k, r in rejects.items() if r["reason"] != "not_grounded"}
    for row in checked.values():  # the evidence: the pair, then what the check found
        question = row["messages"][0]["content"].replace("<audio>", "")
        assert row["detail"].startswith(repr(question)) and ": " in row["detail"]
        assert json.loads(row["meta"])["qa_answer_novelty"] is not None
    for key, n in stats["dropped"].items():
        assert n == sum(1 for r in rejects.values() if f"spoken_passage_qa:{r['reason']}" == key)


def test_pair_check_thresholds_are_validated(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from datagen.generators.spoken_passage_qa import SpokenPassageQAConfig

    base = {"voices": [{"tts": "tts"}], "asr": "asr", "generator": "llm"}
    assert SpokenPassageQAConfig(**base).pair_check.min_question_coverage == 0.5
    assert (
        SpokenPassageQAConfig(**base, pair_check={"min_question_coverage": 0.2}).pair_check.min_question_coverage == 0.2
    )
    with pytest.raises(ValidationError, match="min_coverage"):
        SpokenPassageQAConfig(**base, pair_check={"min_coverage": 0.2})


def test_a_passage_whose_pairs_all_fail_leaves_as_its_pair_rejects(tmp_path: Path) -> None:
    reply = (
        "Q: What is the daily rise and fall of the sea called?\nA: The daily rise and fall of the sea.\n"  # an echo
        "Q: What are tides caused by?\nA: The pull of the Sun on the sea."  # a name the passage lacks
    )
    out, stats = _run(tmp_path, records=[RECORDS[1]], llm={"responses": {"Tides are": [reply]}})
    assert _rejects(out) == {"tides#q0": "answer_echoes_question", "tides#q1": "answer_contradicts_passage"}
    assert stats["kept"] == 0 and stats["dropped"] == {
        "spoken_passage_qa:answer_echoes_question": 1,
        "spoken_passage_qa:answer_contradicts_passage": 1,
    }
    assert "Sun" in stats["drop_examples"]["spoken_passage_qa:answer_contradicts_passage"]["detail"]
