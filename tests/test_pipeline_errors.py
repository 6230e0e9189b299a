"""Programming errors are not bad data: a broken step contract or an unloadable model fails the run, once.

Bad data (a record a step raises on) is isolated into a `step_error` reject and the run goes on; a step that loses
or invents records, or a backend that cannot load, is a bug or a setup problem: the run stops with a clear
message, the batch is not re-run record by record (paying model time again) and the shard is not retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from datagen.backends.base import BackendError
from datagen.backends.fake import FakeTranscriber
from datagen.executors.local import LocalExecutor
from datagen.manifest import load_manifest
from datagen.pipeline import Pipeline
from datagen.readers import ShardSpec
from datagen.records import Rejected, Sample
from datagen.run import run
from datagen.steps import ContractError, Step
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset


class _Scripted(Step):
    """Loses, invents or raises on the records it is told to; counts the records it was given."""

    name = "scripted"

    def __init__(self, behaviour: str) -> None:
        super().__init__()
        self.behaviour = behaviour
        self.seen: list[str] = []

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        self.seen.extend(s.id for s in batch)
        if self.behaviour == "raise_on_second" and any(s.id == "rec-0001" for s in batch):
            raise ValueError("this record is malformed")
        if self.behaviour == "lose_one":
            return list(batch[1:])
        if self.behaviour == "invent_one":
            return [*batch, Sample(id="someone-else")]
        return list(batch)


def _pipeline(tmp_path: Path, n: int = 4) -> tuple[Pipeline, ShardSpec]:
    data = write_swift_dataset(tmp_path / "data", n=n)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out")))
    pipeline = Pipeline(manifest)
    return pipeline, pipeline.source.plan(manifest.output.shard_size).shards[0]


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [("lose_one", "lost 1 record"), ("invent_one", "emitted .someone-else., which derives from no input")],
)
def test_a_broken_step_contract_fails_the_shard_without_rerunning_records(
    tmp_path: Path, behaviour: str, message: str
) -> None:
    pipeline, shard = _pipeline(tmp_path)
    step = _Scripted(behaviour)
    pipeline.steps = [step]
    with pytest.raises(ContractError, match=f"step scripted {message}.*bug in the step"):
        pipeline.run_shard(shard)
    assert step.seen == ["rec-0000", "rec-0001", "rec-0002", "rec-0003"], "the batch must run once, not per record"


def test_a_record_a_step_raises_on_is_still_isolated(tmp_path: Path) -> None:
    pipeline, shard = _pipeline(tmp_path)
    pipeline.steps = [_Scripted("raise_on_second")]
    result = pipeline.run_shard(shard)
    assert [s.id for s in result.kept] == ["rec-0000", "rec-0002", "rec-0003"]
    assert [(r.id, r.reason) for r in result.rejected] == [("rec-0001", "step_error")]
    assert "ValueError: this record is malformed" in result.rejected[0].detail


def _unloadable(error: Exception, calls: list[int]) -> Any:
    def _load(self: FakeTranscriber) -> None:
        calls.append(1)
        raise error

    return _load


@pytest.mark.parametrize(
    "error",
    [
        BackendError("faster-whisper model not found: /models/missing"),
        FileNotFoundError("/models/missing/model.bin"),  # a backend that does not wrap its loader's error
    ],
)
def test_a_backend_that_cannot_load_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(FakeTranscriber, "_load", _unloadable(error, calls))
    data = write_swift_dataset(tmp_path / "data", n=4)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out")))
    with pytest.raises(BackendError, match="missing"):
        run(manifest, executor=LocalExecutor(retries=2, progress=False))
    assert calls == [1]


def test_a_broken_contract_is_not_retried_by_the_local_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def lose_everything(self: Pipeline, shard: ShardSpec, on_progress: Any = None, upcoming: Any = None) -> Any:
        calls.append(shard.index)
        raise ContractError("step scripted lost 4 record(s) without a reject")

    monkeypatch.setattr(Pipeline, "run_shard", lose_everything)
    data = write_swift_dataset(tmp_path / "data", n=4)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out")))
    with pytest.raises(ContractError):
        run(manifest, executor=LocalExecutor(retries=2, progress=False))
    assert calls == [0]


def test_a_backend_error_is_not_retried_on_dask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dask.distributed import LocalCluster

    from datagen.executors import dask as dask_executor
    from datagen.executors.dask import DaskExecutor

    attempts: list[int] = []

    def unloadable(pipeline: Any, out: Any, shard: ShardSpec, on_progress: Any = None) -> dict[str, Any]:
        attempts.append(shard.index)
        raise BackendError("phi4: cannot load /models/missing")

    monkeypatch.setattr(dask_executor, "commit_shard", unloadable)
    data = write_swift_dataset(tmp_path / "data", n=2)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out")))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        executor = DaskExecutor(scheduler=cluster.scheduler_address, retries=2, progress=False)
        with pytest.raises(BackendError, match="cannot load /models/missing"):
            run(manifest, executor=executor)
    assert attempts == [0]
