"""SQQA end to end on the fake engines: spoken question + text answer, optional spoken-style answer, rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datagen.generators.speech_qa import spoken_reply
from datagen.manifest import ManifestError, load_manifest
from datagen.run import run
from datagen.testing import fake_speech_step_manifest, write_jsonl, write_manifest

RECORDS = [
    {"id": "planet", "question": "What is the largest planet?", "answer": "Jupiter is the **largest** planet."},
    {"id": "spider", "question": "How many legs does a spider have?", "answer": "Eight."},
    {"id": "chat", "messages": [{"role": "user", "content": "Dr. Who?"}, {"role": "assistant", "content": "A show."}]},
    {"id": "emoji", "question": "🙂🎉🙂?", "answer": "Party."},
    {"id": "russian", "question": "Какая самая большая планета?", "answer": "Юпитер."},
    {"id": "no-answer", "question": "Is anybody there?"},
    {"id": "blank", "question": "   ", "answer": "Nothing."},
    {"id": "passage-only", "passage": "A passage with no question in it."},
    {"id": "nothing", "title": "neither a question nor a passage"},
    "{broken json",
]
EXPECTED_REJECTS = {
    "emoji": "not_speakable",
    "russian": "not_speakable",
    "no-answer": "missing_answer",
    "blank": "empty_text",
    "passage-only": "empty_text",
    "nothing": "missing_field",
    "qa-0000009": "invalid_json",
}


def _run(tmp_path: Path, step: dict, **kwargs) -> tuple[Path, dict]:
    data = write_jsonl(tmp_path / "data" / "qa.jsonl", RECORDS)
    out = tmp_path / "out"
    manifest = fake_speech_step_manifest({"step": "speech_qa", **step}, data, out, **kwargs)
    return out, run(load_manifest(write_manifest(tmp_path / "m.yaml", manifest)))


def _rejects(out: Path) -> dict[str, str]:
    return {r["id"]: r["reason"] for r in pq.read_table(out / "rejects").to_pylist()}


def test_spoken_question_with_the_data_answer(tmp_path: Path) -> None:
    from datasets import load_dataset

    out, stats = _run(tmp_path, {})
    assert _rejects(out) == EXPECTED_REJECTS
    ds = load_dataset(str(out))["train"].sort("id")
    assert ds["id"] == ["chat", "planet", "spider"] and stats["kept"] == 3
    row = ds[1]
    assert row["messages"] == [
        {"role": "user", "content": "What is the largest planet?", "audio": 0},
        {"role": "assistant", "content": "Jupiter is the **largest** planet.", "audio": None},
    ]
    assert row["audios"][0].get_all_samples().data.shape[1] > 100
    speech = row["speech"][0]
    assert speech["transcript"] == "What is the largest planet?" and speech["wer"] == row["wer"] == 0.0
    assert speech["voice"] == "beta" and speech["asr"] == "fake_asr"
    assert row["answer_original"] is None and row["answer_grounding"] is None
    assert row["prompts"] == [] and row["generator"] is None
    assert ds[0]["speech"][0]["spoken_text"] == "Doctor Who?"  # made speakable before synthesis
    export = [json.loads(x) for x in (out / "export" / "swift" / "train.jsonl").read_text().splitlines()]
    planet = next(r for r in export if r["id"] == "planet")
    assert planet["messages"][0] == {"role": "user", "content": "<audio>"}
    assert len(planet["audios"]) == 1 and (out / "export" / "swift" / planet["audios"][0]).is_file()


def test_spoken_style_answer_is_regenerated_with_provenance(tmp_path: Path) -> None:
    llm = {
        "responses": {"largest planet": ["Spoken answer: **Jupiter** is the largest one."], "spider": ["  "]},
        "default": ["The moon is made of green cheese."],  # what the written answer never said
    }
    out, stats = _run(tmp_path, {"answer_style": "spoken", "generator": "llm"}, llm=llm)
    rows = {r["id"]: r for r in pq.read_table(out / "data").to_pylist()}
    planet = rows["planet"]
    assert planet["messages"][1]["content"] == "Jupiter is the largest one."  # no label, no markdown
    assert planet["answer_original"] == "Jupiter is the **largest** planet."
    assert planet["answer_grounding"] == round(2 / 3, 4)  # "one" is the rewrite's own word
    assert planet["prompts"][0].startswith("sqqa_spoken_answer@v1:") and planet["generator"] == "fake_llm"
    assert _rejects(out) == {**EXPECTED_REJECTS, "spider": "generation_failed", "chat": "answer_unfaithful"}
    assert stats["backend_seconds"]["llm"]["calls"] >= 1


def test_markdown_cleanup_of_spoken_replies() -> None:
    assert spoken_reply("**Answer:** It is `Jupiter`.\n- really") == "It is Jupiter. really"
    assert spoken_reply('"Eight legs."') == "Eight legs."


def test_spoken_answers_need_a_generator(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", RECORDS[:1])
    manifest = fake_speech_step_manifest({"step": "speech_qa", "answer_style": "spoken"}, data, tmp_path / "o")
    with pytest.raises(ManifestError, match="needs `generator`"):
        load_manifest(write_manifest(tmp_path / "m.yaml", manifest))


def test_wer_gate_applies_to_spoken_questions(tmp_path: Path) -> None:
    out, stats = _run(tmp_path, {}, asr={"word_error_rate": 1.0})
    assert stats["kept"] == 0
    assert {r for r in _rejects(out).values()} == {"wer_above_max", *EXPECTED_REJECTS.values()}


BEES = (
    "Honeybees live in colonies with one queen. Workers gather nectar and pollen from flowers, and they fly "
    "far to find them. Nectar is stored in wax cells, where it slowly thickens into honey."
)
# (question, written answer, the generator's spoken rewrite, drop reason with the default pair_check or None)
REWRITES = [
    ("What do workers gather?", "Workers gather nectar and pollen.", "They gather nectar and pollen.", None),
    ("How many queens live in colonies?", "One queen.", "Two queens live in colonies.", "answer_contradicts_passage"),
    ("What does nectar thicken into?", "Honey.", "Nectar thickens into something.", "answer_echoes_question"),
    ("Where is nectar stored?", "In wax cells.", "It is stored in colonies with one queen.", "answer_unfaithful"),
]


@pytest.mark.parametrize("pair_check", [{}, None])
def test_rewritten_answers_are_checked_against_the_source_passage(tmp_path: Path, pair_check: dict | None) -> None:
    records = [
        {"id": f"bees-{k}", "passage": BEES, "question": q, "answer": a} for k, (q, a, _, _) in enumerate(REWRITES)
    ]
    records.append({"id": "no-passage", "question": "What do workers gather?", "answer": "Nectar."})
    llm = {"responses": {a: [r] for _, a, r, _ in REWRITES}, "default": ["Workers gather nectar."]}
    data = write_jsonl(tmp_path / "data" / "qa.jsonl", records)
    step = {"step": "speech_qa", "answer_style": "spoken", "generator": "llm", "pair_check": pair_check}
    manifest = fake_speech_step_manifest(step, data, tmp_path / "out", llm=llm)
    run(load_manifest(write_manifest(tmp_path / "m.yaml", manifest)))
    expected = {f"bees-{k}": reason for k, (_, _, _, reason) in enumerate(REWRITES)}
    if pair_check is None:  # off: only the rewrite's faithfulness to the written answer is checked
        expected = {k: r if r == "answer_unfaithful" else None for k, r in expected.items()}
    rejects = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "rejects").to_pylist()}
    kept = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "data").to_pylist()}
    assert {k: r["reason"] for k, r in rejects.items()} == {k: r for k, r in expected.items() if r}
    assert set(kept) == {k for k, r in expected.items() if r is None} | {"no-passage"}
    assert kept["no-passage"]["qa_answer_grounding"] is None  # no passage: nothing to check against
    assert (kept["bees-0"]["qa_answer_grounding"] == 1.0) == (pair_check is not None)
    for k, (_, _, rewrite, reason) in enumerate(REWRITES):
        row = rejects.get(f"bees-{k}")
        if row and reason != "answer_unfaithful":  # the rewrite, then the evidence; scores kept on the reject
            assert row["detail"].startswith(f"{rewrite!r}: ") and len(row["detail"]) > len(rewrite) + 6
            assert json.loads(row["meta"])["qa_answer_novelty"] is not None
