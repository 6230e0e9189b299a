"""Each layout users bring runs through a vision manifest with nothing but `--input`; the run says what it read."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from layout_fixtures import QUESTIONS, WRITERS, write_llava_image_folder

from datagen.cli import build_parser, main
from datagen.testing import REPO, fake_manifest, fake_speech_step_manifest, write_jsonl, write_manifest

LABELS = {
    "messages": "messages ×3",
    "sharegpt": "sharegpt ×3",
    "alpaca": "alpaca ×3",
    "query_response": "query_response ×3",
    "llava": "llava ×3",
    "cauldron": "cauldron ×3",
    "webdataset": "columns ×2, columns (answer=caption) ×1",
    "columns": "columns (question=prompt, answer=response, images=image) ×3",
}


def _kept(out: Path) -> list[dict]:
    return [row for f in sorted((out / "data").glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


@pytest.mark.parametrize("layout", list(WRITERS))
def test_layout_runs_with_only_input(tmp_path: Path, layout: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = WRITERS[layout](tmp_path / "data")
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(tmp_path / "elsewhere.jsonl", tmp_path / "unused"))
    out = tmp_path / "out"
    assert main(["run", str(manifest), "--input", str(data), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"layout of the first 3: {LABELS[layout]}" in printed.splitlines()[0]
    rows = _kept(out)
    assert len(rows) == 3, printed
    for row in rows:
        users = [m for m in row["messages"] if m["role"] == "user"]
        assert users[-1]["audio"] is not None  # the question was spoken
        assert any(q in users[-1]["content"] for q, _ in QUESTIONS)
        assert len(row["images"]) == 1 and row["images"][0]["bytes"]


def test_validate_prints_the_mapping_it_uses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"id": "a", "ask": "Why is the sky blue?", "reply": "Scattering."}])
    spec = fake_manifest(data, tmp_path / "out")
    spec["input"]["fields"] = {"question": "ask", "answer": "reply"}
    assert main(["validate", str(write_manifest(tmp_path / "m.yaml", spec))]) == 0
    printed = capsys.readouterr().out
    assert "input.fields {'question': 'ask', 'answer': 'reply'}" in printed
    assert "columns (question=ask, answer=reply) ×1" in printed


def test_mapped_field_missing_is_a_named_reject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"id": "a", "question": "Why?", "answer": "So."}])
    spec = fake_manifest(data, tmp_path / "out")
    spec["input"]["fields"] = {"question": "ask"}
    assert main(["validate", str(write_manifest(tmp_path / "m.yaml", spec))]) == 0
    assert "rejected on reading: missing_field ×1" in capsys.readouterr().out


def test_passage_text_column_through_the_sqa_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 17's case: `{"id", "text"}` passages need no manifest edit (the real manifest is only validated here;
    the run below uses the same step on fake engines, the record bringing its own pair)."""
    record = {"id": "cat", "text": "The cat sat on the mat.", "question": "Where did it sit?", "answer": "On the mat."}
    data = write_jsonl(tmp_path / "passages.jsonl", [record])
    sqa = str(REPO / "manifests" / "spoken_passage_qa.yaml")
    assert main(["validate", sqa, "--input", str(data), "--out", str(tmp_path / "o")]) == 0
    assert "columns (passage=text) ×1" in capsys.readouterr().out
    step = {"step": "spoken_passage_qa", "max_audio_seconds": 2.0, "chars_per_second": 40}
    out = tmp_path / "out"
    manifest = write_manifest(tmp_path / "m.yaml", fake_speech_step_manifest(step, data, out))
    assert main(["run", str(manifest), "--no-progress"]) == 0
    (row,) = _kept(out)
    assert row["passage"] == record["text"]
    assert [m["content"].replace("<audio>", "") for m in row["messages"]] == ["Where did it sit?", "On the mat."]


def _has_media_root() -> bool:
    return build_parser().parse_known_args(["run", "m.yaml", "--media-root", "d"])[1] == []


@pytest.mark.skipif(not _has_media_root(), reason="needs `datagen run --media-root` (helper A1's branch h-readers)")
def test_llava_with_a_separate_image_folder(tmp_path: Path) -> None:
    data, image_root = write_llava_image_folder(tmp_path)
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(tmp_path / "elsewhere.jsonl", tmp_path / "unused"))
    out = tmp_path / "out"
    args = ["run", str(manifest), "--input", str(data), "--media-root", str(image_root), "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    assert len(_kept(out)) == 3


@pytest.mark.embedded
@pytest.mark.parametrize("layout", list(WRITERS))
def test_demo_manifest_keeps_every_layout(tmp_path: Path, layout: str) -> None:
    """The shipped demo (piper + Whisper tiny.en) with only `--input`: every record kept but for WER drops."""
    data = WRITERS[layout](tmp_path / "data")
    out = tmp_path / "out"
    demo = str(REPO / "manifests" / "demo.yaml")
    assert main(["run", demo, "--input", str(data), "--out", str(out), "--no-progress"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["seen"] == 3
    assert set(stats["dropped"]) <= {"max_wer:wer_above_max"}, stats["dropped"]


def test_hostile_webdataset_key_cannot_steer_export_writes(tmp_path: Path) -> None:
    """A sample key like `../../x` is a legal tar member name; read, it is only an id, but an export that names
    media files after ids must not write outside its own folder."""
    import tarfile

    from layout_fixtures import _png, add_member

    data = tmp_path / "data" / "x.tar"
    data.parent.mkdir()
    with tarfile.open(data, "w") as tar:
        add_member(tar, "../../../../escaped.png", _png(1))
        add_member(tar, "../../../../escaped.json", json.dumps({"question": "How many?", "answer": "Two."}).encode())
    out = tmp_path / "runs" / "a" / "b"
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(data, out))
    assert main(["run", str(manifest), "--no-progress"]) == 0
    assert main(["export", str(out), "--format", "swift"]) == 0
    assert not list(tmp_path.rglob("escaped*"))
