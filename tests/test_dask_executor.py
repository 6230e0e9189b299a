"""The Dask executor: the same dataset as the local one, GPU resources on GPU shards, bounded in-flight tasks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dask.distributed import Client, LocalCluster, Scheduler, SpecCluster, Worker
from distributed.diagnostics.plugin import SchedulerPlugin

from datagen.executors.dask import DaskExecutor, NoCapableWorkerError, shard_resources, task_prefix
from datagen.manifest import load_manifest
from datagen.run import run
from datagen.shards import OutputDir
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


class _TaskRecorder(SchedulerPlugin):
    """On the scheduler: how many datagen shard tasks are unfinished at once, and which worker ran each one.

    Finished tasks are not counted: a consumed result's release reaches the scheduler a moment after the next
    submission, and holds only a small stats dict.
    """

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.live: set[str] = set()
        self.peak = 0
        self.ran_on: dict[str, str] = {}

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        key = str(key)
        if not key.startswith("datagen-"):
            return
        if finish in ("waiting", "queued", "no-worker", "processing"):
            self.live.add(key)
            self.peak = max(self.peak, len(self.live))
        else:
            self.live.discard(key)
        if finish == "memory":
            self.ran_on[key] = next(iter(self.scheduler.tasks[key].who_has)).address


@pytest.fixture
def gpu_and_cpu_workers() -> Iterator[tuple[SpecCluster, _TaskRecorder, str]]:
    """Two in-process workers, only one labelled `GPU` (on CPU the label is all a GPU is to Dask)."""
    workers = {
        "gpu": {"cls": Worker, "options": {"nthreads": 1, "resources": {"GPU": 1}}},
        "cpu": {"cls": Worker, "options": {"nthreads": 1}},
    }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": ":0"}}
    with SpecCluster(workers=workers, scheduler=scheduler) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        recorder = _TaskRecorder(cluster.scheduler)
        cluster.scheduler.add_plugin(recorder)
        gpu = next(a for a, w in client.scheduler_info()["workers"].items() if w["resources"].get("GPU"))
        yield cluster, recorder, gpu


def test_gpu_shards_run_only_on_the_gpu_worker_and_cpu_shards_on_both(
    tmp_path: Path, gpu_and_cpu_workers: tuple[SpecCluster, _TaskRecorder, str]
) -> None:
    cluster, recorder, gpu = gpu_and_cpu_workers
    data = write_swift_dataset(tmp_path / "data", n=12)
    for name, gpus in (("gpu", 1), ("cpu", None)):
        spec = fake_manifest(data, tmp_path / name, shard_size=1, tts={"delay_seconds": 0.05})
        manifest = load_manifest(write_manifest(tmp_path / f"{name}.yaml", spec))
        executor = DaskExecutor(scheduler=cluster.scheduler_address, gpus_per_shard=gpus, progress=False)
        assert run(manifest, executor=executor)["kept"] == 12
    ran = {
        name: [w for k, w in recorder.ran_on.items() if k.startswith(task_prefix(OutputDir(tmp_path / name)))]
        for name in ("gpu", "cpu")
    }
    assert len(ran["gpu"]) == 12 and set(ran["gpu"]) == {gpu}
    assert len(ran["cpu"]) == 12 and len(set(ran["cpu"])) == 2, "CPU shards should fan out over both workers"


def test_in_flight_shard_tasks_never_exceed_the_bound(
    tmp_path: Path, gpu_and_cpu_workers: tuple[SpecCluster, _TaskRecorder, str]
) -> None:
    cluster, recorder, _ = gpu_and_cpu_workers
    data = write_swift_dataset(tmp_path / "data", n=10)
    spec = fake_manifest(data, tmp_path / "out", shard_size=1, tts={"delay_seconds": 0.02})
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", spec))
    executor = DaskExecutor(scheduler=cluster.scheduler_address, max_in_flight=3, progress=False)
    assert run(manifest, executor=executor)["kept"] == 10  # 10 shards > bound: every one submitted, none lost
    assert len(recorder.ran_on) == 10
    assert recorder.peak == 3  # reached (the test can see a breach) and never exceeded


def test_a_gpu_pipeline_on_a_cluster_without_gpu_workers_fails_clearly(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=2)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out")))
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        for max_in_flight in (None, 4):  # a set bound must not skip the wait and queue shards no worker can take
            executor = DaskExecutor(
                scheduler=cluster.scheduler_address,
                gpus_per_shard=1,
                worker_timeout=1,
                max_in_flight=max_in_flight,
                progress=False,
            )
            with pytest.raises(NoCapableWorkerError, match="--resources GPU=1"):
                run(manifest, executor=executor)


@pytest.mark.parametrize(
    ("asr", "tts", "gpus", "cluster_has_gpu", "expected"),
    [
        ({"engine": "faster_whisper"}, {"engine": "piper"}, None, True, {}),
        ({"engine": "faster_whisper", "device": "cuda"}, {"engine": "piper"}, None, False, {"GPU": 1}),
        ({"engine": "faster_whisper", "device": "cuda:1"}, {"engine": "piper"}, None, False, {"GPU": 1}),
        ({"engine": "faster_whisper"}, {"engine": "piper", "use_cuda": True}, None, False, {"GPU": 1}),
        ({"engine": "faster_whisper", "device": "auto"}, {"engine": "piper"}, None, False, {}),
        ({"engine": "faster_whisper", "device": "auto"}, {"engine": "piper"}, None, True, {"GPU": 1}),
        ({"engine": "faster_whisper", "device": "cuda"}, {"engine": "piper"}, 0, True, {}),
        ({"engine": "fake_asr"}, {"engine": "fake_tts"}, 0.5, False, {"GPU": 0.5}),
    ],
)
def test_shard_resources_follow_the_backends_devices(
    tmp_path: Path, asr: dict, tts: dict, gpus: float | None, cluster_has_gpu: bool, expected: dict
) -> None:
    spec = fake_manifest(tmp_path / "in.jsonl", tmp_path / "out")
    spec["backends"] = {"tts": tts, "asr": asr}
    spec["steps"][0]["voices"][0].pop("voice")
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", spec))
    assert shard_resources(manifest, gpus, cluster_has_gpu=cluster_has_gpu) == expected


def test_an_unused_cuda_backend_asks_for_no_gpu(tmp_path: Path) -> None:
    spec = fake_manifest(tmp_path / "in.jsonl", tmp_path / "out")
    spec["backends"]["spare"] = {"engine": "faster_whisper", "device": "cuda"}
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", spec))
    assert shard_resources(manifest) == {}


def test_cli_executor_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datagen.cli import main

    data = write_swift_dataset(tmp_path / "data", n=2)
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out"))
    assert main(["run", str(manifest), "--executor", "local", "--workers", "2", "--no-progress"]) == 2
    assert "drop --executor local" in capsys.readouterr().err
    assert main(["run", str(manifest), "--executor", "local", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "2 kept of 2" in printed and "dask dashboard" not in printed  # the run's summary, but no dashboard


def test_cli_scheduler_flag_alone_runs_on_that_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datagen.cli import main

    data = write_swift_dataset(tmp_path / "data", n=4)
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out", shard_size=1))
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
        argv = ["run", str(manifest), "--scheduler", cluster.scheduler_address, "--max-in-flight", "1"]
        assert main([*argv, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "dask dashboard: http" in printed and "4 kept of 4" in printed


def test_a_worker_process_runs_one_shard_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads of one worker process share its cached Pipeline: two shards at once would race on its setup and
    state (a record failed with KeyError('tts') about 1 run in 25), so the tasks take turns."""
    import threading
    import time

    import datagen.executors.dask as dask_executor

    running, peak, lock = [0], [0], threading.Lock()

    def commit(pipeline: Any, out: Any, shard: Any) -> dict[str, Any]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)  # long enough for the other thread to arrive, if nothing holds it back
        with lock:
            running[0] -= 1
        return {"kept": 1}

    monkeypatch.setattr(dask_executor, "commit_shard", commit)
    data = write_swift_dataset(tmp_path / "data", n=2)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out")))
    raw = manifest.model_dump(mode="json")
    threads = [
        threading.Thread(target=dask_executor.run_shard_task, args=(raw, str(tmp_path / "out"), "train", None, "fp"))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dask_executor.evict_pipelines()
    assert peak[0] == 1
