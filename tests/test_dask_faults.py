"""Faults on Dask: a worker killed mid-run, a shard that raises once, a shard that always raises.

Each run is compared with a clean local run of the same manifest: same records (ids and content), none lost,
none twice.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dask.distributed import Client, LocalCluster

from datagen.executors import dask as dask_executor
from datagen.executors.dask import DaskExecutor, ShardFailedError
from datagen.manifest import load_manifest
from datagen.run import run
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset


def _rows(out: Path, kind: str) -> list[tuple]:
    rows = [row for p in sorted((out / kind).glob("*.parquet")) for row in pq.read_table(p).to_pylist()]
    return sorted(tuple(sorted((k, repr(v)) for k, v in row.items())) for row in rows)


def _manifest(tmp_path: Path, name: str, data: Path, **options: Any) -> Any:
    spec = fake_manifest(data, tmp_path / name, shard_size=2, asr={"word_error_rate": 0.15}, max_wer=0.1, **options)
    return load_manifest(write_manifest(tmp_path / f"{name}.yaml", spec))


def _assert_same_records(out: Path, clean: Path) -> None:
    data, rejects = _rows(out, "data"), _rows(out, "rejects")
    assert data == _rows(clean, "data") and rejects == _rows(clean, "rejects")
    ids = [dict(r)["id"] for r in data + rejects]
    assert len(ids) == len(set(ids)), "a record was written twice"
    assert 0 < len(data) < len(ids), "the gate should split the records, so both kinds are compared"
    assert not list(out.rglob(".*.tmp-*")), "temporary files left behind"


@pytest.fixture
def in_process_cluster() -> Iterator[LocalCluster]:
    """Workers as threads of this process, so a test can patch what the shard task calls."""
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        yield cluster


@pytest.mark.slow
def test_killing_a_worker_mid_run_still_gives_exactly_the_clean_records(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=18, extra_lines=[b"{oops"])
    slow = {"tts": {"delay_seconds": 0.15}}  # ~0.3 s per shard: the kill lands inside a running shard
    clean = run(_manifest(tmp_path, "clean", data, **slow))
    killed: dict[str, Any] = {}

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):

        def kill_a_busy_worker() -> None:
            """Once a shard is committed, SIGKILL a worker that is running another one."""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not killed:
                busy = {w: keys for w, keys in client.processing().items() if keys}
                if list((tmp_path / "dask" / "_shards").glob("*.json")) and busy:
                    worker, keys = next(iter(busy.items()))
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    killed.update(pid=pid, key=str(keys[0]))
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        stats = run(
            _manifest(tmp_path, "dask", data, **slow),
            executor=DaskExecutor(scheduler=cluster.scheduler_address, progress=False),
        )
        killer.join()
        client.wait_for_workers(2, timeout=30)  # the nanny restarted the killed one
        assert killed and killed["pid"] not in client.run(os.getpid).values()

    assert killed["key"].startswith("datagen-"), killed
    assert stats["kept"] == clean["kept"] and stats["dropped"] == clean["dropped"]
    assert stats["shards"] == clean["shards"] == 10
    _assert_same_records(tmp_path / "dask", tmp_path / "clean")


def test_a_shard_that_raises_once_is_retried(
    tmp_path: Path, in_process_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_swift_dataset(tmp_path / "data", n=6, extra_lines=[b"{oops"])
    run(_manifest(tmp_path, "clean", data))
    calls: list[int] = []
    real_commit = dask_executor.commit_shard

    def flaky_commit(pipeline: Any, out: Any, shard: Any, on_progress: Any = None) -> dict[str, Any]:
        calls.append(shard.index)
        if shard.index == 1 and calls.count(1) == 1:
            raise OSError("disk went away (once)")
        return real_commit(pipeline, out, shard, on_progress)

    monkeypatch.setattr(dask_executor, "commit_shard", flaky_commit)
    executor = DaskExecutor(scheduler=in_process_cluster.scheduler_address, retries=1, progress=False)
    stats = run(_manifest(tmp_path, "dask", data), executor=executor)
    assert sorted(calls) == [0, 1, 1, 2, 3]
    assert stats["shards"] == 4
    _assert_same_records(tmp_path / "dask", tmp_path / "clean")


def test_a_shard_failing_every_retry_stops_the_run_and_a_rerun_resumes(
    tmp_path: Path, in_process_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_swift_dataset(tmp_path / "data", n=6, extra_lines=[b"{oops"])
    run(_manifest(tmp_path, "clean", data))
    manifest = _manifest(tmp_path, "dask", data)
    real_commit = dask_executor.commit_shard
    attempts: list[int] = []

    def broken_shard_2(pipeline: Any, out: Any, shard: Any, on_progress: Any = None) -> dict[str, Any]:
        if shard.index == 2:
            attempts.append(shard.index)
            raise OSError("shard 2 cannot be written")
        return real_commit(pipeline, out, shard, on_progress)

    monkeypatch.setattr(dask_executor, "commit_shard", broken_shard_2)
    executor = DaskExecutor(scheduler=in_process_cluster.scheduler_address, retries=2, max_in_flight=4, progress=False)
    with pytest.raises(ShardFailedError, match=r"shard 2 failed after 2 retries: OSError"):
        run(manifest, executor=executor)
    assert attempts == [2, 2, 2]
    assert not (tmp_path / "dask" / "_shards" / "00002.json").exists()

    monkeypatch.setattr(dask_executor, "commit_shard", real_commit)
    done_before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "dask" / "_shards").glob("*.json")}
    run(manifest, executor=executor)
    done_after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "dask" / "_shards").glob("*.json")}
    assert {k: done_after[k] for k in done_before} == done_before, "finished shards were redone"
    _assert_same_records(tmp_path / "dask", tmp_path / "clean")
