"""A long-lived Dask worker keeps one pipeline (one run's models) loaded, not one per manifest it ever served."""

from __future__ import annotations

from pathlib import Path

from datagen.executors import dask as dask_executor
from datagen.manifest import load_manifest
from datagen.pipeline import Pipeline
from datagen.shards import OutputDir
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset


def test_a_second_manifest_evicts_the_first_pipeline(tmp_path: Path, monkeypatch) -> None:
    torn_down: list[str] = []
    real_teardown = Pipeline.teardown

    def teardown(self: Pipeline) -> None:
        torn_down.append(self.manifest.name)
        real_teardown(self)

    monkeypatch.setattr(Pipeline, "teardown", teardown)
    monkeypatch.setattr(dask_executor, "_PIPELINES", {})
    data = write_swift_dataset(tmp_path / "data", n=2)
    for name in ("first", "second", "second"):
        spec = fake_manifest(data, tmp_path / name, shard_size=2, name=name)
        manifest = load_manifest(write_manifest(tmp_path / f"{name}.yaml", spec))
        plan = Pipeline(manifest).source.plan(2)
        OutputDir(tmp_path / name, "train").root.mkdir(parents=True, exist_ok=True)
        stats = dask_executor.run_shard_task(
            manifest.model_dump(mode="json"), str(tmp_path / name), "train", plan.shards[0], plan.fingerprint
        )
        assert stats["kept"] == 2
    assert torn_down == ["first"]  # the second manifest's pipeline is reused, the first one was freed
    assert [p.manifest.name for p in dask_executor._PIPELINES.values()] == ["second"]
