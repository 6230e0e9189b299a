"""`datagen filter`: re-filter a finished (fake-engine) run into a new dataset, with no model and global dedup."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datagen.cli import main
from datagen.dataset_source import read_dataset, sample_from_row
from datagen.manifest import ManifestError, load_manifest
from datagen.readers import SourceError
from datagen.records import Rejected, Sample
from datagen.refilter import filter_names, load_curate_manifest, refilter
from datagen.run import RunMismatchError, run
from datagen.testing import fake_manifest, swift_record, tiny_png, write_manifest, write_swift_dataset

GERMAN = "Wie viele rote Kreise sind auf dem Bild zu sehen?"
CURATE = {
    "name": "curated",
    "steps": [
        {"step": "image_check", "min_width": 16, "min_height": 16},
        {"step": "text_sanity"},
        {"step": "hallucination"},
        {"step": "audio_quality", "audios": "spoken", "min_snr_db": 0, "max_silence": 1.0, "min_rms_dbfs": -100},
        {"step": "dedup"},
    ],
}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake-engine run of 8 good records plus a German one, a tiny image, a cross-shard duplicate, bad JSON."""
    tmp = tmp_path_factory.mktemp("source")
    folder = tmp / "data"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "small.png").write_bytes(tiny_png(size=8))
    extra = [
        json.dumps(swift_record(8, question=GERMAN, image="images/1.png")).encode(),
        json.dumps(swift_record(9, image="images/small.png")).encode(),
        json.dumps({**swift_record(0), "id": "copy-of-0"}).encode(),  # same image, same text, another id
        b"{broken json",
    ]
    data = write_swift_dataset(folder, n=8, extra_lines=extra)
    out = tmp / "out"
    run(load_manifest(write_manifest(tmp / "m.yaml", fake_manifest(data, out, shard_size=3))))
    return out


def _rows(folder: Path, kind: str) -> list[dict]:
    return pq.read_table(sorted((folder / kind).glob("*.parquet"))).to_pylist()


def _curate(tmp_path: Path, data: dict | None = None) -> Path:
    return write_manifest(tmp_path / "curate.yaml", data or CURATE)


def test_refilter_end_to_end(source: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    out = tmp_path / "curated"
    assert main(["filter", str(source), "--manifest", str(_curate(tmp_path)), "--out", str(out)]) == 0

    ds = load_dataset(str(out))["train"]
    assert sorted(ds["id"]) == [f"rec-{i:04d}" for i in range(8)]
    assert ds[0]["audios"][0].get_all_samples().data.shape[1] > 100 and ds[0]["images"][0].size == (16, 16)
    scores = zip(ds["query_words"], ds["text_hash"], ds["audio_hashes"], strict=True)
    assert all(q > 0 and h and len(a) == 1 for q, h, a in scores)

    rejects = {r["id"]: r for r in _rows(out, "rejects")}
    assert {i: (r["step"], r["reason"]) for i, r in rejects.items()} == {
        "rec-0008": ("text_sanity", "not_english"),
        "rec-0009": ("image_check", "image_too_small"),
        "copy-of-0": ("dedup", "duplicate_text"),
        "train-0000011": ("read", "invalid_json"),  # carried over from the source's rejects
    }
    assert rejects["copy-of-0"]["detail"] == "duplicates rec-0000"  # rec-0000 is in shard 0, the copy in shard 3
    assert json.loads(rejects["rec-0008"]["meta"])["english_share"] == 0.0  # scores of drops are kept too
    assert rejects["rec-0008"]["audios"]  # a dropped record keeps its audio to listen to

    source_rows = {r["id"]: r for r in _rows(source, "data")}
    for row in _rows(out, "data"):  # media bytes are written back untouched
        assert row["audios"] == source_rows[row["id"]]["audios"] and row["images"] == source_rows[row["id"]]["images"]
        assert row["speech"] == source_rows[row["id"]]["speech"]
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(p.name for p in (source / "data").iterdir())

    stats = json.loads((out / "stats.json").read_text())
    assert stats["records"] == stats["seen"] == 12 and stats["kept"] == 8
    assert stats["dropped"] == {
        "text_sanity:not_english": 1,
        "image_check:image_too_small": 1,
        "dedup:duplicate_text": 1,
        "read:invalid_json": 1,
    }
    assert stats["filtered_from"]["newly_dropped"] == 3 and stats["filtered_from"]["kept"] == 11
    assert "snr_db" in stats["kept_scores"] and "tts" in stats["backend_seconds"]
    combined = load_manifest(out / "manifest.yaml")  # the source manifest + the filters: a valid run manifest
    assert [s.step for s in combined.steps] == ["vision_speech", "max_wer", *[s["step"] for s in CURATE["steps"]]]
    assert (out / "README.md").is_file() and (out / "run.json").is_file()


def test_refilter_is_deterministic_and_refuses_to_overwrite(source: Path, tmp_path: Path) -> None:
    manifest = load_curate_manifest(_curate(tmp_path))
    first, second = tmp_path / "a", tmp_path / "b"
    refilter(source, manifest, first)
    refilter(source, manifest, second)
    for kind in ("data", "rejects"):
        assert _rows(first, kind) == _rows(second, kind)
    with pytest.raises(RunMismatchError, match="not empty"):
        refilter(source, manifest, first)
    refilter(source, manifest, first, overwrite=True)
    with pytest.raises(RunMismatchError, match="apart from the dataset"):
        refilter(source, manifest, source / "curated")


def test_a_stricter_threshold_moves_rows_to_rejects_and_refiltering_a_refiltered_set_works(
    source: Path, tmp_path: Path
) -> None:
    strict = {"name": "strict", "steps": [{"step": "text_sanity", "min_query_words": 11}]}
    once = tmp_path / "once"
    refilter(source, load_curate_manifest(_curate(tmp_path, strict)), once)
    assert _rows(once, "data") == []  # queries have 9 words ("How many red circles ... number N?") or 10 (German)
    assert {r["reason"] for r in _rows(once, "rejects")} == {"text_too_short", "invalid_json"}

    loose = {"name": "loose", "steps": [{"step": "max_wer", "max_wer": 0.0}]}
    twice = tmp_path / "twice"
    refilter(once, load_curate_manifest(_curate(tmp_path, loose)), twice)
    assert len(_rows(twice, "rejects")) == 12  # all carried, nothing new


def test_a_filter_that_keeps_nothing_says_why_and_exits_non_zero(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = _curate(tmp_path, {"name": "strict", "steps": [{"step": "text_sanity", "min_query_words": 11}]})
    assert main(["filter", str(source), "--manifest", str(strict), "--out", str(tmp_path / "none")]) == 1
    printed = capsys.readouterr()
    assert "0 kept of" in printed.out
    assert "Nothing was kept" in printed.err and "text_too_short" in printed.err and "e.g. rec-" in printed.err
    loose = _curate(tmp_path, {"name": "loose", "steps": [{"step": "text_sanity"}]})
    assert main(["filter", str(source), "--manifest", str(loose), "--out", str(tmp_path / "some")]) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x", "steps": [{"step": "vision_speech", "voices": [], "asr": "a"}]}, "needs models"),
        ({"name": "x", "backends": {}, "steps": [{"step": "dedup"}]}, "backends: not used by `datagen filter`"),
        ({"name": "x", "input": {"path": "a"}, "steps": [{"step": "dedup"}]}, "input: not used"),
        ({"name": "x", "stepz": []}, "did you mean 'steps'"),
        ({"name": "x", "steps": [{"step": "dedupe"}]}, "dedup"),
        ({"name": "x", "steps": [{"step": "dedup", "near_treshold": 0.5}]}, "did you mean 'near_threshold'"),
        ({"name": "x", "steps": [{"step": "dedup", "near_threshold": 2}]}, "near_threshold"),
        ({"name": "x", "steps": []}, "steps"),
        (["not", "a", "mapping"], "YAML mapping"),
    ],
)
def test_curate_manifest_errors(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace("'", "'")):
        load_curate_manifest(path)


def test_only_model_free_filters_are_allowed() -> None:
    names = filter_names()
    assert {"max_wer", "audio_quality", "hallucination", "text_sanity", "dedup", "image_check"} <= set(names)
    assert "vision_speech" not in names


def test_a_filter_reading_a_missing_column_is_refused(source: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "data").mkdir(parents=True)
    table = pq.read_table(sorted((source / "data").glob("*.parquet"))[0]).drop_columns(["speech"])
    pq.write_table(table.replace_schema_metadata(None), plain / "data" / "train-00000-of-00001.parquet")
    hallucination = {"name": "h", "steps": [{"step": "hallucination"}]}
    with pytest.raises(ManifestError, match=r"reads \['speech'\]"):
        refilter(plain, load_curate_manifest(_curate(tmp_path, hallucination)), tmp_path / "o")
    out = tmp_path / "o2"  # a plain parquet folder (no datasets metadata) still works for other filters
    others = {"name": "o", "steps": [s for s in CURATE["steps"] if s["step"] != "hallucination"]}
    refilter(plain, load_curate_manifest(_curate(tmp_path, others)), out)
    assert len(_rows(out, "data")) == 3


def test_not_a_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SourceError):
        list(read_dataset(tmp_path))
    code = main(["filter", str(tmp_path), "--manifest", str(_curate(tmp_path)), "--out", str(tmp_path / "o")])
    assert code == 2 and "is this a folder datagen wrote" in capsys.readouterr().err


def test_rows_back_into_samples(source: Path) -> None:
    samples = list(read_dataset(source))
    assert len(samples) == 11 and all(isinstance(s, Sample) for s in samples)
    s = next(s for s in samples if s.id == "rec-0000")
    assert s.messages[0].audio == 0 and s.audios[0].sampling_rate == 16000 and s.images[0].data.startswith(b"\x89PNG")
    assert s.meta["wer"] == 0.0 and s.meta["speech"][0]["voice"] == "alpha" and s.meta["source_index"] == 0
    bad = sample_from_row({"id": "b", "messages": None, "audios": [{"bytes": b"junk", "path": "x.wav"}]}, ["wer"])
    assert isinstance(bad, Rejected) and bad.reason == "audio_unreadable" and bad.sample.meta["wer"] is None
    empty = sample_from_row({"id": "e", "audios": [None]}, [])
    assert isinstance(empty, Rejected) and empty.reason == "audio_unreadable"
