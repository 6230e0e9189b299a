"""Exports of hostile datasets: ids that are paths, too long, repeated or colliding after cleaning never choose
where a file goes, every row keeps its own media, and an export never writes outside its folder or over files
that are not an export's."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

from datagen.cli import main
from datagen.export import FORMATS, export
from datagen.export_media import ExportError, media_name
from datagen.refilter import load_curate_manifest, refilter
from datagen.shards import data_features, write_table
from datagen.testing import tiny_png

ESCAPE = "../../../../escaped"  # from DIR/export/swift/images/ this climbs to the test's own tmp folder


def wav(seconds: float = 0.25, freq: float = 440.0, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def row(rid: str, k: int) -> dict[str, Any]:
    """A kept row with its own image (colour k) and spoken question (pitch k) so media can be told apart."""
    return {
        "id": rid,
        "messages": [
            {"role": "user", "content": f"<image>What colour is picture {k}?", "audio": 0},
            {"role": "assistant", "content": f"Colour {k}.", "audio": None},
        ],
        "images": [{"bytes": tiny_png((10 * k, 0, 0)), "path": None}],
        "audios": [{"bytes": wav(freq=200.0 + 50 * k), "path": None}],
        "source_file": "train.jsonl",
        "source_index": k,
    }


HOSTILE = {
    "escaping": [ESCAPE, "ok"],
    "absolute": ["/tmp/datagen-absolute-id", "ok"],
    "slash": ["a/b", "c"],
    "too_long": ["x" * 300, "é" * 200],
    "duplicate": ["same", "same", "same"],
    "collide_after_cleaning": ["a/b", "a_b", "a b"],
    "empty_and_dots": ["", ".", ".."],
}


def write_dataset(root: Path, ids: list[str], exports: list[str] | None = None) -> list[dict[str, Any]]:
    rows = [row(rid, k) for k, rid in enumerate(ids)]
    write_table(root / "data" / "train-00000-of-00001.parquet", rows, data_features({}))
    write_table(root / "rejects" / "rejects-00000-of-00001.parquet", [], _rejects_features())
    manifest = {"name": "hostile", "steps": [], "output": {"path": str(root), "exports": exports or []}}
    (root / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    return rows


def _rejects_features() -> Any:
    from datagen.shards import rejects_features

    return rejects_features()


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def media_of(record: dict[str, Any], fmt: str) -> tuple[list[str], list[str]]:
    if fmt in ("swift", "trl"):
        return record.get("images") or [], record.get("audios") or []
    if fmt == "nemo":
        return record.get("images") or [], [record["audio_filepath"]]
    raise AssertionError(fmt)


@pytest.mark.parametrize("fmt", ["swift", "trl", "nemo"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_ids_never_place_files_and_every_row_keeps_its_own_media(tmp_path: Path, case: str, fmt: str) -> None:
    ds = tmp_path / "ds"
    rows = write_dataset(ds, HOSTILE[case])
    before = files_under(tmp_path)
    path = export(ds, fmt)
    target = ds / "export" / fmt
    written = files_under(tmp_path) - before
    assert written and all(p.resolve().is_relative_to(target.resolve()) for p in written)
    assert not Path("/tmp/datagen-absolute-id-0.png").exists()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in records] == [r["id"] for r in rows]
    seen: set[str] = set()
    for record, src in zip(records, rows, strict=True):
        images, audios = media_of(record, fmt)
        if fmt != "nemo":
            assert [(target / p).read_bytes() for p in images] == [im["bytes"] for im in src["images"]]
        assert [(target / p).read_bytes() for p in audios] == [au["bytes"] for au in src["audios"]]
        assert not seen & {*images, *audios}  # no two rows share a file
        seen |= {*images, *audios}
    marker = json.loads((target / "export.json").read_text())
    assert marker["rows"] == len(rows) and marker["format"] == fmt
    assert marker["duplicate_ids"] == len(rows) - len(set(HOSTILE[case]))


def test_media_names_are_bounded_and_plain() -> None:
    for rid in ("../x", "a/b", "x" * 5000, "\x00", "é" * 300):
        name = media_name("images", 7, rid, 0, ".png")
        assert name.startswith("images/00000007-") and len(name) < 40 and "/" not in name[len("images/") :]
    assert media_name("images", 1, "a/b", 0, ".png") != media_name("images", 1, "a_b", 0, ".png")


def test_a_symlinked_media_folder_in_a_hostile_dataset_is_not_followed(tmp_path: Path) -> None:
    ds, elsewhere = tmp_path / "ds", tmp_path / "elsewhere"
    write_dataset(ds, ["a", "b"])
    elsewhere.mkdir()
    target = ds / "export" / "swift"
    target.mkdir(parents=True)
    (target / "export.json").write_text("{}")
    (target / "images").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ExportError, match="outside"):
        export(ds, "swift")
    assert not any(elsewhere.iterdir())


def test_a_symlinked_export_folder_in_a_hostile_dataset_is_not_followed(tmp_path: Path) -> None:
    ds, elsewhere = tmp_path / "ds", tmp_path / "elsewhere"
    write_dataset(ds, ["a"])
    elsewhere.mkdir()
    (ds / "export").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ExportError, match="outside"):
        export(ds, "trl")
    assert not any(elsewhere.iterdir())


def test_export_out_refuses_a_folder_that_is_not_an_export_and_the_dataset_itself(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    write_dataset(ds, ["a"])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train.jsonl").write_text("my own notes\n")
    with pytest.raises(ExportError, match="not empty"):
        export(ds, "swift", mine)
    assert (mine / "train.jsonl").read_text() == "my own notes\n"
    for bad in (ds, tmp_path, ds / "data" / "x"):
        with pytest.raises(ExportError, match="must not"):
            export(ds, "swift", bad)
    fresh = tmp_path / "fresh"
    assert export(ds, "swift", fresh) == fresh / "train.jsonl"
    first = files_under(fresh)
    export(ds, "swift", fresh)  # a rerun replaces our own export
    assert files_under(fresh) == first


def test_a_smaller_reexport_leaves_no_stale_media(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    write_dataset(ds, ["a", "b", "c"])
    export(ds, "swift")
    write_dataset(ds, ["a"])
    export(ds, "swift")
    assert len(list((ds / "export" / "swift" / "images").iterdir())) == 1


def test_datagen_filter_reexports_a_hostile_dataset_safely(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    write_dataset(ds, [ESCAPE, "a/b", "a_b"], exports=["swift", "trl"])
    curate = tmp_path / "curate.yaml"
    curate.write_text(yaml.safe_dump({"name": "c", "steps": [{"step": "text_sanity"}]}))
    before = files_under(tmp_path)
    out = tmp_path / "filtered"
    refilter(ds, load_curate_manifest(curate), out)
    written = files_under(tmp_path) - before
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)
    for fmt in ("swift", "trl"):
        records = (out / "export" / fmt / "train.jsonl").read_text().splitlines()
        assert len(records) == 3
        assert len(list((out / "export" / fmt / "images").iterdir())) == 3


def test_cli_export_offers_every_format_and_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = tmp_path / "ds"
    write_dataset(ds, ["a"])
    for fmt in FORMATS:
        out = tmp_path / f"to-{fmt}"
        assert main(["export", str(ds), "--format", fmt, "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert str(out) in printed and (out / "export.json").is_file()
    assert main(["export", str(ds), "--format", "trl"]) == 0
    assert (ds / "export" / "trl" / "train.jsonl").is_file()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["export", str(ds), "--format", "swift", "--out", str(tmp_path / "busy")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_lhotse_export_loads_as_a_cutset_with_audio_text_and_custom_fields(tmp_path: Path) -> None:
    from lhotse import CutSet

    ds = tmp_path / "ds"
    rows = write_dataset(ds, ["s0", "s/1", ESCAPE])
    out = tmp_path / "lhotse"
    assert main(["export", str(ds), "--format", "lhotse", "--out", str(out)]) == 0
    cuts = CutSet.from_file(out / "train_cuts.jsonl.gz")
    assert len(cuts) == len(rows)
    for cut, src in zip(cuts, rows, strict=True):
        expected, rate = sf.read(io.BytesIO(src["audios"][0]["bytes"]), dtype="float32")
        audio = cut.load_audio()
        assert cut.sampling_rate == rate and audio.shape == (1, len(expected))
        assert np.allclose(audio[0], expected, atol=1e-4)
        assert cut.duration == pytest.approx(len(expected) / rate)
        (sup,) = cut.supervisions
        k = src["source_index"]
        assert sup.text == f"What colour is picture {k}?"  # the spoken turn, media tag removed
        assert sup.custom["answer"] == f"Colour {k}."
        assert cut.custom["id"] == src["id"] and cut.custom["source_index"] == k
        assert Path(cut.recording.sources[0].source).resolve().is_relative_to(out.resolve())


def test_nemo_manifest_follows_nemos_conventions(tmp_path: Path) -> None:
    """NeMo is not installable here: read the manifest as its `read_manifest` + audio loader would: JSON lines
    with `audio_filepath` (relative paths resolve against the manifest's folder), `duration`, `text`."""
    ds = tmp_path / "ds"
    rows = write_dataset(ds, ["n0", "n/1"])
    rows.append(row("no-audio", 2) | {"audios": [], "messages": [{"role": "user", "content": "hi", "audio": None}]})
    write_table(ds / "data" / "train-00000-of-00001.parquet", rows, data_features({}))
    path = export(ds, "nemo")
    assert path.name == "train_manifest.json"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["n0", "n/1"]  # the row without audio has no line
    for line, src in zip(lines, rows, strict=False):
        assert {"audio_filepath", "duration", "text", "answer", "id", "source_file"} <= set(line)
        audio_path = Path(line["audio_filepath"])
        assert not audio_path.is_absolute()
        data, rate = sf.read(path.parent / audio_path)
        assert line["duration"] == pytest.approx(len(data) / rate, abs=1e-3)
        assert line["text"] == f"What colour is picture {src['source_index']}?"
        assert line["answer"] == f"Colour {src['source_index']}."


def test_speech_exports_of_a_real_run_carry_the_spoken_text_provenance_and_images(tmp_path: Path) -> None:
    """A fake-engine vision→speech run exported to nemo and lhotse from the manifest's `exports`."""
    from lhotse import CutSet

    from datagen.manifest import load_manifest
    from datagen.run import run
    from datagen.testing import fake_manifest, write_manifest, write_swift_dataset

    data = write_swift_dataset(tmp_path / "in", n=3)
    m = fake_manifest(data, tmp_path / "out")
    m["output"]["exports"] = ["nemo", "lhotse"]
    run(load_manifest(write_manifest(tmp_path / "m.yaml", m)))
    import pyarrow.parquet as pq

    rows = pq.read_table(sorted((tmp_path / "out" / "data").glob("*.parquet"))).to_pylist()
    nemo_dir = tmp_path / "out" / "export" / "nemo"
    lines = [json.loads(x) for x in (nemo_dir / "train_manifest.json").read_text().splitlines()]
    cuts = list(CutSet.from_file(tmp_path / "out" / "export" / "lhotse" / "train_cuts.jsonl.gz"))
    assert len(lines) == len(cuts) == len(rows) == 3
    for line, cut, src in zip(lines, cuts, rows, strict=True):
        speech = src["speech"][0]
        assert line["text"] == cut.supervisions[0].text == speech["spoken_text"]
        assert line["speech_voice"] == cut.supervisions[0].custom["voice"] == speech["voice"] == "alpha"
        assert line["wer"] == cut.custom["wer"] == src["wer"]
        assert (nemo_dir / line["images"][0]).read_bytes() == src["images"][0]["bytes"]
        assert cut.load_audio().shape[1] == cut.num_samples > 1000


def test_an_export_folder_from_before_markers_is_replaced(tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    write_dataset(ds, ["a"])
    old = ds / "export" / "swift"
    (old / "images").mkdir(parents=True)
    (old / "images" / "a-0.png").write_bytes(b"old")
    (old / "train.jsonl").write_text("{}\n")
    export(ds, "swift")
    names = [p.name for p in (old / "images").iterdir()]
    assert len(names) == 1 and names[0].startswith("00000000-") and (old / "export.json").is_file()
    (old / "notes.txt").write_text("mine")
    (old / "export.json").unlink()
    with pytest.raises(ExportError, match="not empty"):
        export(ds, "swift")
