"""The Dask executor gives the same dataset as the local one (same ids, same content)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datagen.executors.dask import DaskExecutor
from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset


def _rows(out: Path, kind: str) -> list[tuple]:
    tables = [pq.read_table(p).to_pylist() for p in sorted((out / kind).glob("*.parquet"))]
    return sorted(tuple(sorted((k, repr(v)) for k, v in row.items())) for rows in tables for row in rows)


@pytest.mark.slow
def test_local_and_dask_runs_write_identical_shards(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=10, extra_lines=[b"{oops"])
    outputs = {}
    for name, executor in (("local", None), ("dask", DaskExecutor(workers=2, progress=False))):
        spec = fake_manifest(data, tmp_path / name, shard_size=3, asr={"word_error_rate": 0.15}, max_wer=0.1)
        manifest = load_manifest(write_manifest(tmp_path / f"{name}.yaml", spec))
        outputs[name] = run(manifest, executor=executor)
    assert outputs["dask"]["kept"] == outputs["local"]["kept"] > 0
    assert outputs["dask"]["dropped"] == outputs["local"]["dropped"]
    assert _rows(tmp_path / "dask", "data") == _rows(tmp_path / "local", "data")
    assert _rows(tmp_path / "dask", "rejects") == _rows(tmp_path / "local", "rejects")
    assert sorted(p.name for p in (tmp_path / "dask" / "data").iterdir()) == sorted(
        p.name for p in (tmp_path / "local" / "data").iterdir()
    )


@pytest.mark.slow
def test_cli_workers_flag_runs_on_a_local_dask_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datagen.cli import main

    data = write_swift_dataset(tmp_path / "data", n=4)
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out", shard_size=2))
    assert main(["run", str(manifest), "--workers", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "dask dashboard:" in printed and "4 kept of 4" in printed
    assert len(list((tmp_path / "out" / "_shards").glob("*.json"))) == 2
