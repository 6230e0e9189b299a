"""Run shards on a Dask distributed cluster: a `LocalCluster` of N processes, or a running scheduler.

Workers write their shards themselves with the same atomic, marker-last commit as the local executor, so a
shard a dead worker left half-written is simply redone (Dask retries it), and the result equals a local run.
Each worker process builds and loads the pipeline once per manifest and reuses it for every shard it gets.
Submissions are bounded (`max_in_flight`), so the client never holds a future per shard of a huge corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datagen.executors.local import commit_shard
from datagen.executors.progress import RunProgress
from datagen.readers import Plan, ShardSpec
from datagen.shards import OutputDir

_PIPELINES: dict[str, Any] = {}  # per worker process: (manifest hash, input fingerprint) -> loaded Pipeline


def run_shard_task(
    manifest_data: dict[str, Any], root: str, split: str, shard: ShardSpec, fingerprint: str
) -> dict[str, Any]:
    """The task a worker runs; everything it needs travels as plain data.

    The cache key includes the input's fingerprint: a long-lived worker must not serve a changed input from the
    records its cached source already parsed.
    """
    from datagen.manifest import manifest_hash, validate_manifest
    from datagen.pipeline import Pipeline

    manifest = validate_manifest(manifest_data)
    key = f"{manifest_hash(manifest)}:{fingerprint}"
    if key not in _PIPELINES:
        _PIPELINES[key] = Pipeline(manifest)
    return commit_shard(_PIPELINES[key], OutputDir(Path(root), split), shard)


class DaskExecutor:
    def __init__(
        self,
        *,
        workers: int = 2,
        scheduler: str | None = None,
        retries: int = 2,
        max_in_flight: int | None = None,
        progress: bool = True,
    ) -> None:
        self.workers = workers
        self.scheduler = scheduler
        self.retries = retries
        self.max_in_flight = max_in_flight
        self.progress = progress

    def _client(self) -> tuple[Any, Any]:
        from dask.distributed import Client, LocalCluster

        if self.scheduler:
            return Client(self.scheduler), None
        cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        return Client(cluster), cluster

    def run(self, manifest: Any, out: OutputDir, plan: Plan) -> None:
        with RunProgress(out, plan, enabled=self.progress) as progress:
            if not progress.todo:
                return
            client, cluster = self._client()
            try:
                self._run_on(client, manifest, out, plan, progress)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()

    def _run_on(self, client: Any, manifest: Any, out: OutputDir, plan: Plan, progress: RunProgress) -> None:
        from dask.distributed import as_completed

        print(f"dask dashboard: {client.dashboard_link}")
        data = manifest.model_dump(mode="json")
        limit = self.max_in_flight or 2 * max(1, len(client.scheduler_info()["workers"]))
        pending = iter(progress.todo)

        def submit(shard: ShardSpec) -> Any:
            return client.submit(
                run_shard_task, data, str(out.root), out.split, shard, plan.fingerprint,
                key=f"datagen-shard-{out.root.name}-{shard.index}", retries=self.retries, pure=False,
            )  # fmt: skip

        running = as_completed([submit(s) for s, _ in zip(pending, range(limit), strict=False)])
        for future in running:
            stats = future.result()
            progress(stats["kept"], stats["seen"] - stats["kept"])
            following = next(pending, None)
            if following is not None:
                running.add(submit(following))
