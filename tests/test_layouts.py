"""Every accepted record layout, the order layouts are detected in, column mapping, `<image>` tags, rejections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from layout_fixtures import QUESTIONS, SYSTEM, WRITERS, _png

from datagen.layouts import LayoutError, parse
from datagen.readers import Source, open_source
from datagen.records import Rejected, Sample

# layout → (label in meta, has a system turn, id of record i)
EXPECTED: dict[str, tuple[str, bool, str]] = {
    "messages": ("messages", True, "messages-{i}"),
    "sharegpt": ("sharegpt", True, "sharegpt-{i}"),
    "alpaca": ("alpaca", True, "alpaca-{i}"),
    "query_response": ("query_response", True, "query_response-{i}"),
    "llava": ("llava", False, "llava-{i}"),
    "cauldron": ("cauldron", False, "cauldron-000000{i}"),
    "webdataset": ("columns", False, "webdataset-{i}"),
    "columns": ("columns (question=prompt, answer=response, images=image)", False, "columns-{i}"),
}


def read_all(source: Source, shard_size: int = 1000) -> list[Sample | Rejected]:
    return [item for shard in source.plan(shard_size).shards for item in source.read(shard)]


@pytest.mark.parametrize("layout", list(WRITERS))
@pytest.mark.parametrize("shard_size", [1, 2, 100])
def test_each_layout_reads_into_the_same_chat(tmp_path: Path, layout: str, shard_size: int) -> None:
    label, has_system, id_pattern = EXPECTED[layout]
    items = read_all(open_source(WRITERS[layout](tmp_path)), shard_size)
    assert [type(s) for s in items] == [Sample] * 3, [getattr(s, "detail", "") for s in items]
    for i, sample in enumerate(items):
        assert isinstance(sample, Sample)
        question, answer = QUESTIONS[i]
        assert sample.id == id_pattern.format(i=i)
        assert sample.meta["layout"].startswith(label)
        assert [img.data for img in sample.images] == [_png(i)]
        roles = [m.role for m in sample.messages]
        assert (roles[0] == "system") == has_system
        if has_system:
            assert sample.messages[0].content == SYSTEM
        last_user = sample.messages[sample.user_turns()[-1]]
        assert last_user.content.replace("<image>", "").strip().startswith(question.split()[0])
        assert sample.messages[-1].role == "assistant" and sample.messages[-1].content == answer
        assert sum(m.content.count("<image>") for m in sample.messages) == 1
        first_user = sample.messages[sample.user_turns()[0]]
        assert first_user.content.startswith("<image>")  # tags placed (or kept) at the start of the first user turn


def _chat_turns(parsed: Any) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in parsed.messages]


# record → expected layout label: chat layouts are never misread as columns, columns under their common names
DETECTION: list[tuple[str, dict[str, Any], str]] = [
    ("messages_wins", {"messages": [{"role": "user", "content": "q"}], "question": "x", "text": "p"}, "messages"),
    ("llava", {"conversations": [{"from": "human", "value": "q"}]}, "llava"),
    ("sharegpt", {"conversation": [{"human": "q", "assistant": "a"}]}, "sharegpt"),
    ("cauldron", {"texts": [{"user": "q", "assistant": "a", "source": "s"}], "images": []}, "cauldron"),
    ("alpaca", {"instruction": "q", "input": "", "output": "a"}, "alpaca"),
    ("alpaca_over_query", {"instruction": "q", "output": "a", "query": "z"}, "alpaca"),
    ("query_response", {"query": "q", "response": "a", "history": []}, "query_response"),
    ("alpaca_no_output", {"instruction": "q", "input": "x"}, "alpaca"),
    ("query_history", {"query": "q", "history": [["a", "b"]]}, "query_response"),
    ("instruction_alone", {"instruction": "q"}, "columns (question=instruction)"),
    ("query_alone", {"query": "q"}, "columns (question=query)"),
    ("prompt_response", {"prompt": "q", "response": "a"}, "columns (question=prompt, answer=response)"),
    ("problem_solution", {"problem": "q", "solution": "a"}, "columns (question=problem, answer=solution)"),
    ("gsm8k", {"question": "q", "answer": "x #### 8"}, "columns"),
    ("text_passage", {"id": "p", "text": "A passage."}, "columns (passage=text)"),
    ("context_qa", {"context": "c", "question": "q", "answer": "a"}, "columns (passage=context)"),
    ("document", {"document": "d"}, "columns (passage=document)"),
    ("passage_first", {"passage": "p", "text": "t"}, "columns"),
]


@pytest.mark.parametrize(("record", "label"), [c[1:] for c in DETECTION], ids=[c[0] for c in DETECTION])
def test_detection_order(record: dict[str, Any], label: str) -> None:
    assert parse(record).meta["layout"] == label


def test_alpaca_joins_instruction_and_input_and_keeps_history() -> None:
    record = {
        "system": "S",
        "instruction": "Translate.",
        "input": "Bonjour",
        "output": "Hello",
        "history": [["a", "b"]],
    }
    assert _chat_turns(parse(record)) == [
        ("system", "S"),
        ("user", "a"),
        ("assistant", "b"),
        ("user", "Translate.\nBonjour"),
        ("assistant", "Hello"),
    ]


def test_cauldron_multi_turn_and_source() -> None:
    record = {
        "images": [{"bytes": b"x", "path": None}],
        "texts": [
            {"user": "q1", "assistant": "a1", "source": "vqav2"},
            {"user": "q2", "assistant": "a2", "source": "vqav2"},
        ],
    }
    parsed = parse(record)
    assert _chat_turns(parsed) == [("user", "<image>q1"), ("assistant", "a1"), ("user", "q2"), ("assistant", "a2")]
    assert parsed.meta["source_dataset"] == "vqav2"


def test_conversations_with_role_content_turns() -> None:
    parsed = parse({"conversations": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    assert _chat_turns(parsed) == [("user", "q"), ("assistant", "a")]


def test_query_without_response_keeps_its_history() -> None:
    parsed = parse({"query": "q2", "history": [["q1", "a1"]]})
    assert _chat_turns(parsed) == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]


def test_sharegpt_last_turn_may_lack_an_answer() -> None:
    parsed = parse({"conversation": [{"human": "q1", "assistant": "a1"}, {"human": "q2"}]})
    assert _chat_turns(parsed) == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]


# -- column mapping -----------------------------------------------------------------------------------------

FIELDS = {"question": "prompt", "answer": "response", "passage": "body"}


def test_explicit_mapping_wins_over_detection() -> None:
    record = {"prompt": "Why?", "response": "Because.", "body": "The text.", "messages": "not read", "pic": ["a.png"]}
    parsed = parse(record, {**FIELDS, "images": "pic"})
    assert _chat_turns(parsed) == [("user", "<image>Why?"), ("assistant", "Because.")]
    assert parsed.meta["passage"] == "The text."
    assert parsed.images == ["a.png"]
    assert parsed.meta["layout"] == "columns (question=prompt, answer=response, passage=body, images=pic)"


def test_mapping_of_images_only_keeps_chat_detection() -> None:
    parsed = parse({"messages": [{"role": "user", "content": "q"}], "pic": "a.png"}, {"images": "pic"})
    assert parsed.meta["layout"] == "messages (images=pic)"
    assert parsed.images == ["a.png"]


@pytest.mark.parametrize("missing", ["prompt", "response", "body"])
def test_record_missing_a_mapped_field_names_field_and_mapping(missing: str) -> None:
    record = {"prompt": "Why?", "response": "Because.", "body": "The text."}
    del record[missing]
    with pytest.raises(LayoutError) as err:
        parse(record, FIELDS)
    assert err.value.reason == "missing_field"
    assert repr(missing) in err.value.detail and "input.fields" in err.value.detail and "prompt" in err.value.detail


# -- <image> tags -------------------------------------------------------------------------------------------

TAGS: list[tuple[str, list[dict[str, str]], int, str | list[str]]] = [
    (
        "untagged_two_images",
        [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}],
        2,
        "<image><image>q",
    ),
    ("tag_kept_in_place", [{"role": "user", "content": "Look: <image> what?"}], 1, "Look: <image> what?"),
    ("no_images_no_tags", [{"role": "user", "content": "q"}], 0, "q"),
    ("two_tags_one_image", [{"role": "user", "content": "<image><image>q"}], 1, "image_count_mismatch"),
    ("one_tag_two_images", [{"role": "user", "content": "<image>q"}], 2, "image_count_mismatch"),
    ("tag_no_image", [{"role": "user", "content": "<image>q"}], 0, "image_count_mismatch"),
]


@pytest.mark.parametrize(("turns", "images", "expected"), [c[1:] for c in TAGS], ids=[c[0] for c in TAGS])
def test_image_tags(turns: list[dict[str, str]], images: int, expected: str) -> None:
    record = {"messages": turns, "images": [f"{k}.png" for k in range(images)]}
    if expected == "image_count_mismatch":
        with pytest.raises(LayoutError) as err:
            parse(record)
        assert err.value.reason == expected and f"but {images} image(s)" in err.value.detail
    else:
        assert parse(record).messages[turns.index(next(t for t in turns if t["role"] == "user"))].content == expected


# -- rejections, through the reader (the others in the file are unaffected) --------------------------------

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("nothing_recognised", {"id": "bad", "caption": "only a caption"}, "missing_field"),
    ("sharegpt_not_list", {"id": "bad", "conversation": "hi"}, "malformed_record"),
    ("sharegpt_no_human", {"id": "bad", "conversation": [{"assistant": "a"}]}, "malformed_record"),
    ("sharegpt_answer_dict", {"id": "bad", "conversation": [{"human": "q", "assistant": {}}]}, "malformed_record"),
    ("cauldron_not_list", {"id": "bad", "texts": "hi"}, "malformed_record"),
    ("cauldron_user_number", {"id": "bad", "texts": [{"user": 3, "assistant": "a"}]}, "malformed_record"),
    ("cauldron_missing_answer_mid", {"id": "bad", "texts": [{"user": "q"}, {"user": "q2"}]}, "malformed_record"),
    ("alpaca_output_list", {"id": "bad", "instruction": "q", "output": ["a"]}, "malformed_record"),
    ("alpaca_input_number", {"id": "bad", "instruction": "q", "input": 5, "output": "a"}, "malformed_record"),
    ("history_not_pairs", {"id": "bad", "query": "q", "response": "a", "history": [["only one"]]}, "malformed_record"),
    ("query_number", {"id": "bad", "query": 7, "response": "a"}, "malformed_record"),
    ("system_number", {"id": "bad", "system": 1, "query": "q", "response": "a"}, "malformed_record"),
    ("question_list", {"id": "bad", "question": ["q"]}, "malformed_record"),
    ("passage_number", {"id": "bad", "text": 12}, "malformed_record"),
    ("answer_bool", {"id": "bad", "question": "q", "answer": True}, "malformed_record"),
    ("tags_without_images", {"id": "bad", "query": "<image>q", "response": "a"}, "image_count_mismatch"),
]


@pytest.mark.parametrize(("record", "reason"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_record_is_rejected_with_its_reason(tmp_path: Path, record: dict[str, Any], reason: str) -> None:
    good = {"id": "good", "query": "Why?", "response": "Because."}
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (good, record, good | {"id": "good2"})) + "\n")
    items = read_all(open_source(path))
    assert [type(s) for s in items] == [Sample, Rejected, Sample]
    rejected = items[1]
    assert isinstance(rejected, Rejected)
    assert (rejected.id, rejected.reason) == ("bad", reason), rejected.detail
    assert rejected.detail


# -- a QA record's passage is carried to meta by every reader (issue 19) ------------------------------------

QA = {"id": "qa-1", "passage": "Bees live in colonies.", "question": "Where do bees live?", "answer": "In colonies."}


def _write_qa(tmp_path: Path, fmt: str) -> Path:
    if fmt == "jsonl":
        (path := tmp_path / "qa.jsonl").write_text(json.dumps(QA) + "\n")
    elif fmt == "json":
        (path := tmp_path / "qa.json").write_text(json.dumps([QA]))
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist([QA]), path := tmp_path / "qa.parquet")
    else:
        import tarfile

        from layout_fixtures import add_member

        with tarfile.open(path := tmp_path / "qa.tar", "w") as tar:
            add_member(tar, "qa-1.json", json.dumps({k: v for k, v in QA.items() if k != "id"}).encode())
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet", "webdataset"])
def test_qa_record_keeps_its_passage(tmp_path: Path, fmt: str) -> None:
    (sample,) = read_all(open_source(_write_qa(tmp_path, fmt)))
    assert isinstance(sample, Sample)
    assert sample.id == "qa-1"
    assert sample.meta["passage"] == QA["passage"]
    assert _chat_turns(sample) == [("user", QA["question"]), ("assistant", QA["answer"])]


def test_chat_record_keeps_its_passage() -> None:
    parsed = parse({"messages": [{"role": "user", "content": "q"}], "passage": "P."})
    assert parsed.meta["passage"] == "P."
