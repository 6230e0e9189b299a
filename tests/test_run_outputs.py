"""What `datagen run` writes: never over its own input or a file it did not write (even with --overwrite), and a
run that keeps nothing says so (non-zero exit, reasons with examples, the card)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen.cli import main
from datagen.manifest import load_manifest
from datagen.run import RunMismatchError, run
from datagen.testing import fake_manifest, swift_record, write_manifest, write_swift_dataset


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def manifest_for(tmp_path: Path, data: Path, out: Path, **kwargs: object) -> object:
    return load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, out, **kwargs)))


def cli_run(tmp_path: Path, data: Path, out: Path, *extra: str) -> int:
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(data, out))
    return main(["run", str(manifest), "--input", str(data), "--out", str(out), "--no-progress", *extra])


@pytest.mark.parametrize(
    ("input_rel", "out_rel"),
    [
        ("A", "A"),  # --input A --out A: a folder input, the same folder out
        ("A/train.jsonl", "A"),  # the input file sits in --out
        ("proj/data", "proj"),  # --out . over a folder whose input lives in ./data/
        ("proj/data/train.jsonl", "proj"),
        ("A", "A/out"),  # a folder input is read recursively: the output would become input
    ],
)
def test_run_refuses_an_output_folder_overlapping_its_input_even_with_overwrite(
    tmp_path: Path, input_rel: str, out_rel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_swift_dataset(tmp_path / input_rel.removesuffix("/train.jsonl"), n=3)
    input_path = data if input_rel.endswith(".jsonl") else data.parent
    out = tmp_path / out_rel
    before = snapshot(input_path.parent if input_path.is_file() else input_path)
    for flags in ((), ("--overwrite",), ("--overwrite",)):  # the second --overwrite is the "rerun" of the issue
        assert cli_run(tmp_path, input_path, out, *flags) == 2
        assert "input" in capsys.readouterr().err
    assert snapshot(input_path.parent if input_path.is_file() else input_path) == before


def test_overwrite_never_replaces_a_readme_datagen_did_not_write(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "in", n=2)
    out = tmp_path / "proj"
    out.mkdir()
    (out / "README.md").write_text("# my project\n")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunMismatchError, match="README.md"):
        run(manifest_for(tmp_path, data, out), overwrite=True)
    assert (out / "README.md").read_text() == "# my project\n"
    (out / "README.md").unlink()
    run(manifest_for(tmp_path, data, out), overwrite=True)  # other files are left alone
    assert (out / "notes.txt").read_text() == "mine" and (out / "README.md").read_text().startswith("---\n")


def test_overwrite_replaces_only_what_datagen_wrote(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "in", n=4)
    out = tmp_path / "out"
    run(manifest_for(tmp_path, data, out, shard_size=2))
    (out / "notes.txt").write_text("mine")
    (out / "data" / "my-notes.txt").write_text("mine too")
    (out / "README.md").write_text("# edited by hand after the run\n")
    changed = manifest_for(tmp_path, data, out, shard_size=4, max_wer=0.5)
    with pytest.raises(RunMismatchError, match="README.md"):
        run(changed, overwrite=True)
    (out / "README.md").unlink()
    stats = run(changed, overwrite=True)
    assert sorted(p.name for p in (out / "data").iterdir()) == ["my-notes.txt", "train-00000-of-00001.parquet"]
    assert (out / "notes.txt").read_text() == "mine" and stats["kept"] == 4


def test_a_run_that_keeps_nothing_says_why_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    lines = [json.dumps(swift_record(i, image=f"images/missing-{i}.png")) for i in range(3)] + ["{broken"]
    lines[0] = json.dumps(swift_record(0, image="images/missing-0.png", id="x`<script>\nalert(1)"))
    (folder / "train.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert cli_run(tmp_path, folder / "train.jsonl", out) == 1
    printed = capsys.readouterr()
    text = printed.out + printed.err
    assert "0 kept of 4" in text and "Nothing was kept" in text
    assert "read:invalid_json" in text and "e.g. " in text and "images/missing-0.png" in text  # reason + example
    card = (out / "README.md").read_text()
    assert "No record was kept" in card and "e.g. `x'&lt;script&gt; alert(1)`" in card and "<script>" not in card
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] == 0 and stats["drop_examples"]


def test_a_run_that_keeps_nothing_cannot_be_loaded_and_its_rejects_can(tmp_path: Path) -> None:
    """`datasets` refuses a split with no rows whatever the parquet holds (no row group, or an empty one): the
    run's exit code and card say so; the rejects load as a dataset of their own."""
    from datasets import load_dataset

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps(swift_record(0, image="images/none.png")) + "\n")
    out = tmp_path / "out"
    stats = run(manifest_for(tmp_path, folder / "train.jsonl", out))
    assert stats["kept"] == 0
    with pytest.raises(ValueError, match="no data"):
        load_dataset(str(out))
    rejects = load_dataset("parquet", data_files=str(out / "rejects" / "*.parquet"))["train"]
    assert rejects["id"] == ["rec-0000"] and rejects["reason"][0]
    assert "load_dataset(...) has no rows to load" in (out / "README.md").read_text()


def test_a_partly_kept_run_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_swift_dataset(tmp_path / "in", n=2, extra_lines=[b"{broken"])
    assert cli_run(tmp_path, data, tmp_path / "out") == 0
    assert "2 kept of 3" in capsys.readouterr().out


def test_duplicate_ids_are_kept_with_their_own_media_and_counted(tmp_path: Path) -> None:
    """The policy: a repeated id is kept (each row is its own record) and counted in stats, audit and export."""
    from datagen.audit import build_audit

    folder = tmp_path / "in"
    write_swift_dataset(folder, n=3)
    lines = [{**swift_record(i), "id": "dup"} for i in range(3)]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "out"
    data = fake_manifest(folder / "train.jsonl", out)
    data["output"]["exports"] = ["swift"]
    stats = run(load_manifest(write_manifest(tmp_path / "m.yaml", data)))
    assert stats["kept"] == 3 and stats["duplicate_ids"] == 2
    assert build_audit(out).report["funnel"]["duplicate_ids"] == 2
    images = sorted((out / "export" / "swift" / "images").iterdir())
    assert len({p.read_bytes() for p in images}) == len(images) == 3
    assert json.loads((out / "export" / "swift" / "export.json").read_text())["duplicate_ids"] == 2
