"""A whole run on the fake engines: output layout, loading with `datasets`, rejects, stats, resume, export."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datagen.cli import main
from datagen.manifest import load_manifest
from datagen.run import RunMismatchError, run
from datagen.testing import fake_manifest, swift_record, tiny_png, write_manifest, write_swift_dataset


def _run(tmp_path: Path, data: Path, **kwargs) -> tuple[Path, dict]:
    out = tmp_path / "out"
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, out, **kwargs)))
    return out, run(manifest)


def _rejects(out: Path) -> dict[str, str]:
    rows = pq.read_table(sorted((out / "rejects").glob("*.parquet"))).to_pylist()
    return {r["id"]: r["reason"] for r in rows}


def test_output_loads_with_datasets_with_audio_images_and_provenance(tmp_path: Path) -> None:
    from datasets import load_dataset

    data = write_swift_dataset(tmp_path / "data", n=5)
    out, stats = _run(tmp_path, data, shard_size=2)
    assert sorted(p.name for p in (out / "data").iterdir()) == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    ds = load_dataset(str(out))["train"]
    assert len(ds) == stats["kept"] == 5
    row = ds.sort("id")[0]
    assert row["id"] == "rec-0000"
    assert row["messages"][0] == {
        "role": "user",
        "content": "<image>How many red circles are in picture number 0?",
        "audio": 0,
    }
    assert row["messages"][1]["audio"] is None
    samples = row["audios"][0].get_all_samples()
    assert samples.sample_rate == 16000 and samples.data.shape[1] > 1000
    assert row["images"][0].size == (16, 16)
    speech = row["speech"][0]
    assert speech["transcript"] == speech["text"] == "How many red circles are in picture number 0?"
    assert speech["wer"] == row["wer"] == 0.0
    assert speech["tts"] == "fake_tts" and speech["voice"] == "alpha" and speech["asr"] == "fake_asr"
    assert 0.9 <= speech["speed"] <= 1.1 and speech["voice_seed"] >= 0
    assert row["source_file"] == "train.jsonl" and row["source_index"] == 0
    for name in ("stats.json", "manifest.yaml", "README.md", "run.json"):
        assert (out / name).is_file()
    assert "wer" in stats["kept_scores"] and stats["backend_seconds"]["tts"]["calls"] >= 3


def test_bad_records_are_rejected_with_reasons_and_the_run_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "bad.png").write_bytes(b"not an image")
    (folder / "images" / "ok.png").write_bytes(tiny_png())
    lines = [
        json.dumps(swift_record(0, image="images/ok.png")),
        json.dumps(swift_record(1, image="images/missing.png")),
        json.dumps(swift_record(2, image="images/bad.png")),
        json.dumps(swift_record(3, image="../outside.png")),
        json.dumps(swift_record(4, question="", image="images/ok.png")),
        json.dumps(swift_record(5, question="x" * 2000, image="images/ok.png")),
        "{broken json",
    ]
    data = folder / "train.jsonl"
    data.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe bad bytes\n")
    out, stats = _run(tmp_path, data, shard_size=3)
    assert stats["kept"] == 1 and stats["seen"] == 8
    reasons = _rejects(out)
    assert reasons == {
        "rec-0001": "image_missing",
        "rec-0002": "image_unreadable",
        "rec-0003": "media_path_outside",
        "rec-0004": "empty_text",
        "rec-0005": "audio_too_long",
        "train-0000006": "invalid_json",
        "train-0000007": "invalid_utf8",
    }
    assert sum(stats["dropped"].values()) == 7


@pytest.mark.parametrize(
    ("asr", "tts", "reason"),
    [
        ({"fail_on": ["number 1?"]}, {}, "asr_failed"),
        ({}, {"fail_on": ["number 1?"]}, "tts_failed"),
        ({"word_error_rate": 1.0}, {}, "wer_above_max"),
    ],
)
def test_engine_failures_drop_only_the_affected_sample(tmp_path: Path, asr: dict, tts: dict, reason: str) -> None:
    data = write_swift_dataset(tmp_path / "data", n=3)
    out, stats = _run(tmp_path, data, asr=asr, tts=tts)
    reasons = _rejects(out)
    if reason == "wer_above_max":
        assert set(reasons.values()) == {reason} and stats["kept"] == 0
    else:
        assert reasons == {"rec-0001": reason} and stats["kept"] == 2


def test_wer_gate_threshold_splits_kept_and_dropped(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=20)
    out, stats = _run(tmp_path, data, asr={"word_error_rate": 0.15}, max_wer=0.1)
    kept = pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()
    assert kept and all(r["wer"] <= 0.1 for r in kept)
    dropped = pq.read_table(sorted((out / "rejects").glob("*.parquet"))).to_pylist()
    assert dropped and all(json.loads(r["meta"])["wer"] > 0.1 for r in dropped)
    assert all(r["reason"] == "wer_above_max" and r["audios"] for r in dropped)  # rejects keep the audio to listen
    assert stats["kept"] + stats["dropped_total"] == 20


def test_multi_turn_speaks_every_user_turn(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "0.png").write_bytes(tiny_png())
    record = {
        "id": "mt",
        "messages": [
            {"role": "user", "content": "<image>What color is the circle?"},
            {"role": "assistant", "content": "Red."},
            {"role": "user", "content": "And how many squares are there?"},
            {"role": "assistant", "content": "Two."},
        ],
        "images": ["images/0.png"],
    }
    (folder / "train.jsonl").write_text(json.dumps(record) + "\n")
    out, _ = _run(tmp_path, folder / "train.jsonl")
    row = pq.read_table(out / "data" / "train-00000-of-00001.parquet").to_pylist()[0]
    assert [m["audio"] for m in row["messages"]] == [0, None, 1, None]
    assert [s["turn"] for s in row["speech"]] == [0, 2]
    assert len(row["audios"]) == 2


def test_rerun_skips_finished_shards_and_refuses_a_different_manifest(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=4)
    out, _ = _run(tmp_path, data, shard_size=2)
    marker = out / "_shards" / "00000.json"
    before = marker.stat().st_mtime_ns
    manifest = load_manifest(tmp_path / "m.yaml")
    run(manifest)
    assert marker.stat().st_mtime_ns == before  # nothing redone
    changed = load_manifest(write_manifest(tmp_path / "m2.yaml", fake_manifest(data, out, shard_size=2, max_wer=0.5)))
    with pytest.raises(RunMismatchError, match="--overwrite"):
        run(changed)
    run(changed, overwrite=True)
    assert marker.stat().st_mtime_ns != before


def test_cli_run_with_overrides_and_swift_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_swift_dataset(tmp_path / "data", n=3)
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(tmp_path / "nowhere.jsonl", tmp_path / "unused"))
    out = tmp_path / "cli-out"
    assert main(["run", str(manifest), "--input", str(data), "--out", str(out), "--limit", "2", "--no-progress"]) == 0
    assert "2 kept of 2" in capsys.readouterr().out
    assert main(["export", str(out), "--format", "swift"]) == 0
    lines = (out / "export" / "swift" / "train.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2
    first = records[0]
    assert first["messages"][0] == {"role": "user", "content": "<image><audio>"}
    assert (len(first["images"]), len(first["audios"])) == (1, 1)  # one per tag
    for rel in first["images"] + first["audios"]:
        assert (out / "export" / "swift" / rel).is_file()


def test_cli_reports_bad_manifest_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_swift_dataset(tmp_path / "data", n=1)
    bad = fake_manifest(data, tmp_path / "out")
    bad["steps"][1]["max_wr"] = 0.3
    path = write_manifest(tmp_path / "bad.yaml", bad)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "max_wr" in err and "max_wer" in err


def test_two_outputs_with_the_same_folder_name_load_their_own_rows(tmp_path: Path) -> None:
    """`datasets` caches by the card's YAML; ours must not make two runs' folders alias each other."""
    from datasets import load_dataset

    sizes = {}
    for n, sub in ((2, "a"), (3, "b")):
        data = write_swift_dataset(tmp_path / sub / "data", n=n)
        out, _ = _run(tmp_path / sub, data)
        sizes[sub] = len(load_dataset(str(out))["train"])
    assert sizes == {"a": 2, "b": 3}


def _same_size_edit(path: Path, old: bytes, new: bytes) -> None:
    """Edit keeping the length, then put the mtime back: name, size and mtime all say "unchanged"."""
    import os

    info = path.stat()
    data = path.read_bytes()
    assert data.count(old) == 1 and len(old) == len(new)
    path.write_bytes(data.replace(old, new))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _kept_questions(out: Path) -> list[str]:
    rows = pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()
    return sorted(r["messages"][0]["content"] for r in rows)


def test_resume_refuses_an_input_edited_in_place_with_mtime_restored(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=4)
    out, _ = _run(tmp_path, data, shard_size=2)
    assert "<image>How many red circles are in picture number 3?" in _kept_questions(out)
    _same_size_edit(data, b"red circles are in picture number 3", b"big circles are in picture number 3")
    manifest = load_manifest(tmp_path / "m.yaml")
    with pytest.raises(RunMismatchError, match="--overwrite"):
        run(manifest)  # not stale output: a refusal
    run(manifest, overwrite=True)
    questions = _kept_questions(out)
    assert "<image>How many big circles are in picture number 3?" in questions
    assert not any("red circles are in picture number 3" in q for q in questions)


def test_markers_carry_the_shard_digest_and_a_stale_marker_is_redone(tmp_path: Path) -> None:
    from datagen.run import plan_run

    data = write_swift_dataset(tmp_path / "data", n=4)
    out, _ = _run(tmp_path, data, shard_size=2)
    manifest = load_manifest(tmp_path / "m.yaml")
    plan = plan_run(manifest)
    markers = [json.loads((out / "_shards" / f"{i:05d}.json").read_text()) for i in range(2)]
    assert [m["input_digest"] for m in markers] == [s.digest for s in plan.shards]
    assert json.loads((out / "run.json").read_text())["plan"][1]["digest"] == plan.shards[1].digest
    stale = {**markers[1], "input_digest": "0" * 32}  # as if written for other input bytes
    (out / "_shards" / "00001.json").write_text(json.dumps(stale))
    first = (out / "_shards" / "00000.json").stat().st_mtime_ns
    run(manifest)
    assert json.loads((out / "_shards" / "00001.json").read_text())["input_digest"] == plan.shards[1].digest
    assert (out / "_shards" / "00000.json").stat().st_mtime_ns == first  # the good shard is not redone


def test_hostile_records_in_a_run_are_rejected_and_the_run_completes(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    data = write_swift_dataset(folder, n=3)
    with (folder / "images" / "huge.png").open("wb") as f:
        f.truncate(64 * 2**30)
    good = data.read_bytes().splitlines()
    bad = [
        b"[" * 100_000,
        json.dumps(swift_record(7, image="images/huge.png")).encode(),
        json.dumps({**swift_record(8), "images": [{"bytes": -1}]}).encode(),
        json.dumps(swift_record(9)).replace('"rec-0009"', "9" * 5000).encode(),
        json.dumps(swift_record(10, image="https://example.com/x.png")).encode(),
    ]
    inline = json.dumps(swift_record(11, image="data:image/png;base64," + base64.b64encode(tiny_png()).decode()))
    data.write_bytes(b"\n".join([good[0], *bad, good[1], inline.encode(), good[2]]) + b"\n")
    out, stats = _run(tmp_path, data, shard_size=3)
    assert (stats["seen"], stats["kept"]) == (9, 4)  # the data URI image is decoded and kept
    assert sorted(_rejects(out).values()) == sorted(
        ["malformed_record", "media_too_large", "malformed_record", "malformed_record", "remote_media"]
    )


def test_media_root_from_cli_and_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """LLaVA layout: the JSON names bare files that live in a separate image folder."""
    llava = tmp_path / "llava"
    (llava / "coco" / "train2017").mkdir(parents=True)
    records = []
    for i in range(2):
        (llava / "coco" / "train2017" / f"00000000003347{i}.jpg").write_bytes(tiny_png((i, 50, 90)))
        records.append(
            {
                "id": f"l{i}",
                "image": f"00000000003347{i}.jpg",
                "conversations": [
                    {"from": "human", "value": "<image>\nWhat is in the picture?"},
                    {"from": "gpt", "value": "A square."},
                ],
            }
        )
    (llava / "llava_mix.json").write_text(json.dumps(records))
    base = fake_manifest(llava / "llava_mix.json", tmp_path / "unused")
    manifest = write_manifest(tmp_path / "m.yaml", base)
    args = ["run", str(manifest), "--out", str(tmp_path / "a"), "--no-progress"]
    assert main(args) == 1  # nothing kept: a run that made nothing says so in its exit status
    assert "0 kept of 2" in capsys.readouterr().out
    detail = pq.read_table(tmp_path / "a" / "rejects").to_pylist()[0]["detail"]
    assert str(llava) in detail and "--media-root" in detail and "input.media_root" in detail
    assert main([*args[:2], "--out", str(tmp_path / "b"), "--media-root", str(llava / "coco/train2017")]) == 0
    assert "2 kept of 2" in capsys.readouterr().out
    base["input"]["media_root"] = "llava/coco/train2017"  # relative to the manifest's folder
    manifest = write_manifest(tmp_path / "m2.yaml", {**base, "output": {"path": str(tmp_path / "c")}})
    assert main(["validate", str(manifest)]) == 0
    assert main(["run", str(manifest), "--no-progress"]) == 0
    assert "2 kept of 2" in capsys.readouterr().out
    assert main(["validate", str(manifest), "--media-root", str(tmp_path / "nowhere")]) == 2
    assert "media root not found" in capsys.readouterr().err
