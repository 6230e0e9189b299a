"""spoken_style: the first user turn rewritten by a (scripted) generator before speech, kept only when faithful."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datagen.backends.fake import FakeLLMSettings, FakeTextGenerator
from datagen.generators.spoken_style import SpokenStyle, SpokenStyleConfig, clean_reply, split_frame
from datagen.manifest import load_manifest
from datagen.records import Message, Rejected, Sample
from datagen.run import run
from datagen.testing import fake_speech_step_manifest, write_jsonl, write_manifest

# the written query of each record -> what the scripted model replies to its prompt
SCRIPT = {
    "How many red circles are in picture 3?": ["Spoken: So, how many **red circles** are there in picture three?"],
    "Dr. Patel drew 2 squares; what colour are they?": ["What color are the two squares that Doctor Patel drew?"],
    "Count the triangles in the image.": ["Count the triangles, then tell me about the Eiffel Tower in Paris."],
    "Is the small square above the circle?": ["How many shapes are in the picture?"],
    "What does the word 'azure' mean here?": ["What does that blue word mean here?"],
    "Describe the scene in 4 words.": ["Describe the scene in four words <image>"],
    "Which shape is the biggest one?": ["Rewrite this written request the way a person would: which shape is biggest?"],
    "Is the circle blue?": ["Is the circle blue?\nWritten: Is the square red?"],
}
RECORDS: list[Any] = [
    {
        "id": "digits",
        "messages": [
            {"role": "user", "content": "<image>How many red circles are in picture 3?"},
            {"role": "assistant", "content": "**Three**."},
        ],
        "images": ["a.png"],
    },
    {
        "id": "names",
        "messages": [
            {"role": "user", "content": "Dr. Patel drew 2 squares; what colour are they?\n<image>"},
            {"role": "assistant", "content": "Red."},
        ],
        "images": ["a.png"],
    },
    {
        "id": "drifts",
        "messages": [
            {"role": "user", "content": "<image> Count the triangles in the image."},
            {"role": "assistant", "content": "Two."},
        ],
        "images": ["a.png"],
    },
    {
        "id": "new-question",
        "messages": [
            {"role": "user", "content": "Is the small square above the circle?"},
            {"role": "assistant", "content": "Yes."},
        ],
    },
    {
        "id": "quote",
        "messages": [
            {"role": "user", "content": "What does the word 'azure' mean here?"},
            {"role": "assistant", "content": "Blue."},
        ],
    },
    {
        "id": "tag-added",
        "messages": [
            {"role": "user", "content": "Describe the scene in 4 words."},
            {"role": "assistant", "content": "Shapes on white."},
        ],
    },
    {
        "id": "echo",
        "messages": [
            {"role": "user", "content": "Which shape is the biggest one?"},
            {"role": "assistant", "content": "The square."},
        ],
    },
    {
        "id": "same",
        "messages": [
            {"role": "user", "content": "<image>Is the circle blue?"},
            {"role": "assistant", "content": "Yes."},
        ],
        "images": ["a.png"],
    },
    {
        "id": "silent",
        "messages": [
            {"role": "user", "content": "Which shape is largest? FAIL"},
            {"role": "assistant", "content": "The square."},
        ],
    },
    {
        "id": "inner-tag",
        "messages": [
            {"role": "user", "content": "Compare <image> with <image>, please."},
            {"role": "assistant", "content": "Same."},
        ],
        "images": ["a.png", "a.png"],
    },
    {
        "id": "code",
        "messages": [
            {"role": "user", "content": "Explain:\n```\nx = 1\n```"},
            {"role": "assistant", "content": "It sets x."},
        ],
    },
]
KEPT_WHY = {
    "drifts": "name",
    "new-question": "meaning",
    "quote": "quoted",
    "tag-added": "media tag",
    "silent": "reply",
    "echo": "echoes the prompt",
}


def _run(tmp_path: Path, **step: Any) -> tuple[Path, dict]:
    from datagen.testing import tiny_png

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.png").write_bytes(tiny_png())
    data = write_jsonl(tmp_path / "data" / "train.jsonl", RECORDS)
    out = tmp_path / "out"
    llm = {"responses": SCRIPT, "fail_on": ["FAIL"]}
    manifest = fake_speech_step_manifest({"step": "vision_speech", "turns": "first"}, data, out, llm=llm, shard_size=16)
    manifest["steps"].insert(0, {"step": "spoken_style", "generator": "llm", "batch_size": 16, **step})
    return out, run(load_manifest(write_manifest(tmp_path / "m.yaml", manifest)))


def test_rewrites_are_spoken_faithful_ones_used_others_kept_with_the_reason(tmp_path: Path) -> None:
    from datasets import load_dataset

    out, stats = _run(tmp_path)
    rows = {r["id"]: r for r in load_dataset(str(out))["train"]}
    assert set(rows) == {r["id"] for r in RECORDS} - {"code"}  # the speech step rejects what cannot be spoken
    by_id = {r["id"]: r for r in RECORDS}
    for rid, row in rows.items():
        written = by_id[rid]["messages"][0]["content"]
        style = row["spoken_style"]
        assert row["written_query"] == written
        assert row["messages"][1]["content"] == by_id[rid]["messages"][1]["content"]  # assistant untouched
        assert row["speech"][0]["text"] == " ".join(row["messages"][0]["content"].replace("<image>", " ").split())
        if style["status"] != "skipped":
            assert style["prompt"].startswith("spoken_style@v1:") and style["generator"] == "fake_llm"
    assert rows["digits"]["messages"][0]["content"] == "<image>So, how many red circles are there in picture three?"
    assert rows["names"]["messages"][0]["content"] == "What color are the two squares that Doctor Patel drew?\n<image>"
    assert rows["digits"]["speech"][0]["transcript"] == "So, how many red circles are there in picture three?"
    for rid in ("digits", "names"):
        assert rows[rid]["spoken_style"]["status"] == "rewritten" and rows[rid]["spoken_style"]["content_recall"] > 0.6
    for rid, why in KEPT_WHY.items():
        style = rows[rid]["spoken_style"]
        assert style["status"] == "kept_original" and why in style["reason"], (rid, style)
        assert rows[rid]["messages"][0]["content"] == by_id[rid]["messages"][0]["content"]
    assert rows["quote"]["spoken_style"]["attempt"] == "What does that blue word mean here?"
    assert rows["same"]["spoken_style"]["status"] == "unchanged" and rows["same"]["spoken_style"]["reason"] == ""
    assert rows["same"]["messages"][0]["content"] == "<image>Is the circle blue?"
    assert rows["inner-tag"]["spoken_style"] == {
        "status": "skipped",
        "reason": "media tags inside the text",
        "prompt": None,
        "generator": None,
        "content_recall": None,
        "attempt": None,
    }
    assert stats["backend_seconds"]["llm"]["calls"] == 1  # one batch, one generator call
    assert stats["spoken_style"] == {
        "rewritten": 2,
        "unchanged": 1,
        "kept_original": 6,
        "rejected": 0,
        "skipped": 2,
        "rewrite_rate": round(2 / 9, 4),
    }


def test_on_unfaithful_reject_drops_with_stable_reasons(tmp_path: Path) -> None:
    out, stats = _run(tmp_path, on_unfaithful="reject")
    rejects = {r["id"]: r for r in pq.read_table(out / "rejects").to_pylist()}
    assert {rid: r["reason"] for rid, r in rejects.items() if r["step"] == "spoken_style"} == {
        **{rid: "rewrite_unfaithful" for rid in KEPT_WHY if rid != "silent"},
        "silent": "generation_failed",
    }
    assert "quoted text ['azure']" in rejects["quote"]["detail"]
    assert stats["kept"] == 4 and stats["spoken_style"]["rejected"] == 6


def _step(responses: dict[str, list[str]], **config: Any) -> tuple[SpokenStyle, list[int]]:
    calls: list[int] = []

    class Counting(FakeTextGenerator):
        def generate(self, conversations: list[Any], n: int = 1, sampling: Any = None) -> list[Any]:
            calls.append(len(conversations))
            return super().generate(conversations, n, sampling)

    step = SpokenStyle(SpokenStyleConfig(generator="llm", **config))
    step.setup({"llm": Counting(FakeLLMSettings(responses=responses))})
    return step, calls


def _sample(i: int, question: str) -> Sample:
    return Sample(f"s{i}", (Message("user", question), Message("assistant", "An answer.")))


def test_one_generator_call_per_batch_in_order() -> None:
    step, calls = _step({f"shape number {i}?": [f"Which color is shape number {i}, then?"] for i in range(5)})
    out = step.process([_sample(i, f"What color is shape number {i}?") for i in range(5)])
    assert calls == [5]
    assert [o.messages[0].content for o in out if isinstance(o, Sample)] == [
        f"Which color is shape number {i}, then?" for i in range(5)
    ]


def test_too_long_and_empty_turns_are_not_sent_to_the_model() -> None:
    step, calls = _step({}, max_chars=40)
    out = step.process([_sample(0, "word " * 20), _sample(1, "<image>"), Sample("s2", (Message("system", "x"),))])
    assert calls == []
    assert [o.meta["spoken_style"]["reason"] for o in out if not isinstance(o, Rejected)] == [
        "99 characters (> max_chars 40)",
        "no text to rewrite",
        "no user turn",
    ]
    assert out[2].meta["written_query"] is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("How many circles are there?", "How many circles are there?"),
        ("Spoken: How many circles?", "How many circles?"),
        ('"How many circles?"', "How many circles?"),
        ("Here is the spoken version:\nHow many circles?", "How many circles?"),
        ("**How** many `circles`?", "How many circles?"),
        ("- How many circles?\n- And squares?", "How many circles?"),
        ("Rewritten version: 'How many?'", "How many?"),
        ("How many circles?\nWritten: How many squares?", "How many circles?"),
        ("", ""),
        ("   \n ", ""),
    ],
)
def test_clean_reply(reply: str, expected: str) -> None:
    assert clean_reply(reply) == expected


def test_split_frame_on_a_hostile_run_of_tags() -> None:
    content = "x" + "<image> " * 20_000  # rescanning the tail per tag was quadratic: minutes, not milliseconds
    assert split_frame(content) == ("", "x", content[1:])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("<image>How many?", ("<image>", "How many?", "")),
        ("<image>\n How many? <image>", ("<image>\n ", "How many?", " <image>")),
        ("Compare <image> and <image>.", ("", "Compare <image> and <image>.", "")),
        ("<image><audio>", ("<image><audio>", "", "")),
        ("", ("", "", "")),
        ("  plain text  ", ("  ", "plain text", "  ")),
    ],
)
def test_split_frame_keeps_tags_and_whitespace(content: str, expected: tuple[str, str, str]) -> None:
    assert split_frame(content) == expected
    assert "".join(split_frame(content)) == content
