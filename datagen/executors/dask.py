"""Run shards on a Dask distributed cluster: a `LocalCluster` of N processes, or a running scheduler.

Workers write their shards themselves with the same atomic, marker-last commit as the local executor, so a
shard a dead worker left half-written is simply redone (Dask reschedules it), and the result equals a local run.
Each worker process builds and loads the pipeline once per manifest and reuses it for every shard it gets.

- Retries: a shard task that raises is retried `retries` times (Dask `retries=`); a task whose worker dies is
  rescheduled on another worker (up to `distributed.scheduler.allowed-failures` deaths, then `KilledWorker`).
  A `FATAL_ERRORS` error (a model that cannot load, a step that breaks its contract) is returned, not raised,
  so Dask does not retry it, and the client re-raises it as a local run would.
- Resources: a pipeline whose backends ask for CUDA submits its shards with `resources={"GPU": n}`, so they
  only run on workers started with `--resources GPU=1` and one model replica works per GPU; CPU-only pipelines
  ask for nothing and fan out over every worker.
- Backpressure: at most `max_in_flight` shard tasks are unfinished at once (default: 2 per worker); the next
  shard is submitted only when one finishes, so neither the client nor the scheduler holds a task per shard of a
  corpus, and a slow cluster never piles up work (results are small stats dicts; the records go to disk).
- Dashboard: a local cluster's dashboard (scheduler logs, workers, task pages) listens on 127.0.0.1 only; another
  address (`dashboard_address`, `--dashboard-address`) opens it to whoever can reach that interface.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen import registry
from datagen.executors.local import FATAL_ERRORS, commit_shard
from datagen.executors.progress import RunProgress
from datagen.readers import Plan, ShardSpec
from datagen.shards import OutputDir

if TYPE_CHECKING:
    from datagen.manifest import Manifest
    from datagen.pipeline import Pipeline

log = logging.getLogger(__name__)

LOOPBACK_DASHBOARD = "127.0.0.1:0"  # this machine only, a free port (":0" alone would bind every interface)
_PIPELINES: dict[str, Pipeline] = {}  # per worker process: (manifest hash, input fingerprint) -> loaded Pipeline (one)
# One shard at a time per process: a worker with several threads (`dask worker --nthreads 4`, or in-process workers)
# would otherwise run shards concurrently on the one cached Pipeline (its lazy setup, its steps' tallies, its
# models), or evict it under a running shard. Parallelism comes from worker processes (`--nworkers`).
_PIPELINE_LOCK = threading.Lock()


class ShardFailedError(RuntimeError):
    """A shard failed on every attempt; finished shards are kept, so the same command resumes the run."""


class NoCapableWorkerError(RuntimeError):
    """No worker of the cluster offers the resources the shards ask for (e.g. no worker has `GPU`)."""


def run_shard_task(
    manifest_data: dict[str, Any], root: str, split: str, shard: ShardSpec, fingerprint: str
) -> dict[str, Any]:
    """The task a worker runs; everything it needs travels as plain data.

    The cache key includes the input's fingerprint: a long-lived worker must not serve a changed input from the
    records its cached source already parsed.
    """
    from datagen.allocator import keep_large_buffers
    from datagen.manifest import validate_manifest
    from datagen.pipeline import Pipeline

    raw = json.dumps(manifest_data, sort_keys=True, default=str).encode()
    key = f"{hashlib.sha256(raw).hexdigest()}:{fingerprint}"  # keyed on the data: validate once per process
    with _PIPELINE_LOCK:
        if key not in _PIPELINES:  # a new manifest or input: free the previous one's models first (one per worker)
            evict_pipelines()
            keep_large_buffers()
            _PIPELINES[key] = Pipeline(validate_manifest(manifest_data))
        try:
            return commit_shard(_PIPELINES[key], OutputDir(Path(root), split), shard)
        except FATAL_ERRORS as err:
            return {"fatal": err}


def evict_pipelines() -> None:
    """Tear down this worker's cached pipelines, so a long-lived worker holds one run's models at a time."""
    while _PIPELINES:
        _PIPELINES.popitem()[1].teardown()


def device_requests(manifest: Manifest) -> set[str]:
    """ "cuda" / "auto" / "cpu" for each backend the steps use; built without loading any model."""
    used = {ref.name for cfg in manifest.steps for ref in registry.step_class(cfg.step).backend_refs(cfg)}
    found = set()
    for name in used:
        spec = manifest.backends[name]
        backend = registry.backend_class(spec.engine)(spec, name=name)
        found.add(backend.device_request() if hasattr(backend, "device_request") else "cpu")
    return found


def shard_resources(manifest: Manifest, gpus_per_shard: float | None = None, *, cluster_has_gpu: bool = False) -> dict:
    """What each shard task asks the scheduler for.

    `gpus_per_shard` set: exactly that (0 = CPU only). Otherwise one GPU when a backend wants "cuda", or wants
    "auto" and the cluster has GPU workers (where "auto" will pick CUDA); else nothing.
    """
    if gpus_per_shard is not None:
        return {"GPU": gpus_per_shard} if gpus_per_shard > 0 else {}
    wants = device_requests(manifest)
    return {"GPU": 1} if "cuda" in wants or ("auto" in wants and cluster_has_gpu) else {}


def task_prefix(out: OutputDir) -> str:
    """Shard task keys start with this: unique per output folder, so two runs on one cluster never collide."""
    return f"datagen-{hashlib.sha1(str(out.root.resolve()).encode()).hexdigest()[:8]}-shard-"


def _workers(client: Any) -> dict[str, Any]:
    return client.scheduler_info(n_workers=-1)["workers"]


def _capable(worker: dict[str, Any], resources: dict[str, float]) -> bool:
    offered = worker.get("resources") or {}
    return all(offered.get(name, 0) >= amount for name, amount in resources.items())


class DaskExecutor:
    """`workers` local processes, or the cluster at `scheduler`; see the module docstring for the policies."""

    def __init__(
        self,
        *,
        workers: int = 2,
        scheduler: str | None = None,
        retries: int = 2,
        max_in_flight: int | None = None,
        gpus_per_shard: float | None = None,
        worker_timeout: float = 600.0,
        progress: bool = True,
        dashboard_address: str = LOOPBACK_DASHBOARD,
    ) -> None:
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.workers = workers
        self.scheduler = scheduler
        self.retries = retries
        self.max_in_flight = max_in_flight
        self.gpus_per_shard = gpus_per_shard
        self.worker_timeout = worker_timeout
        self.progress = progress
        self.dashboard_address = dashboard_address

    def _client(self, manifest: Manifest) -> tuple[Any, Any]:
        from dask.distributed import Client, LocalCluster

        if self.scheduler:
            return Client(self.scheduler), None
        # a local GPU pipeline: label every local worker with one GPU (they share the machine's devices)
        resources = shard_resources(manifest, self.gpus_per_shard)
        extra = {"resources": {"GPU": 1}} if resources else {}
        cluster = LocalCluster(
            n_workers=self.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=self.dashboard_address,
            **extra,
        )
        return Client(cluster), cluster

    def run(self, manifest: Manifest, out: OutputDir, plan: Plan) -> None:
        with RunProgress(out, plan, enabled=self.progress) as progress:
            if not progress.todo:
                return
            client, cluster = self._client(manifest)
            try:
                self._run_on(client, manifest, out, plan, progress)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
            out.clean_temporaries()  # what a killed worker left mid-write; every writer has finished now

    def _wait_for_capable_worker(self, client: Any, resources: dict[str, float]) -> int:
        """Block until a worker can run the shards (a Slurm job may still be queued); return how many can."""
        deadline = time.monotonic() + self.worker_timeout
        while True:
            workers = _workers(client)
            capable = sum(_capable(w, resources) for w in workers.values())
            if capable:
                return capable
            if time.monotonic() > deadline:
                raise NoCapableWorkerError(
                    f"no Dask worker offers {resources or 'a slot'} after {self.worker_timeout:.0f} s "
                    f"({len(workers)} worker(s) connected); start workers with "
                    f"`dask worker SCHEDULER --nthreads 1 --resources GPU=1` or run CPU-only (--gpus-per-shard 0)"
                )
            time.sleep(0.5)

    def _run_on(self, client: Any, manifest: Manifest, out: OutputDir, plan: Plan, progress: RunProgress) -> None:
        from dask.distributed import as_completed

        print(f"dask dashboard: {client.dashboard_link}")
        cluster_has_gpu = any(_capable(w, {"GPU": 1}) for w in _workers(client).values())
        resources = shard_resources(manifest, self.gpus_per_shard, cluster_has_gpu=cluster_has_gpu)
        capable = self._wait_for_capable_worker(client, resources)  # also with --max-in-flight: never queue blind
        limit = self.max_in_flight or 2 * capable
        data = manifest.model_dump(mode="json")
        prefix = task_prefix(out)
        pending = iter(progress.todo)

        def submit(shard: ShardSpec) -> Any:
            return client.submit(
                run_shard_task, data, str(out.root), out.split, shard, plan.fingerprint,
                key=f"{prefix}{shard.index:05d}", retries=self.retries, pure=False,
                resources=resources or None,
            )  # fmt: skip

        # islice, not zip(): zip drops one. loop=: as_completed otherwise tracks on the *default* client's loop,
        # which is another client's when the caller has one open (a notebook, a test): its futures then fail
        running = as_completed([submit(s) for s in islice(pending, limit)], loop=client.loop)
        for future in running:
            index = int(future.key.rsplit("-", 1)[1])
            try:
                stats = future.result()
            except Exception as err:  # a worker's error arrives re-raised with its own type: wrap it once, here
                raise ShardFailedError(
                    f"shard {index} failed after {self.retries} retries: {type(err).__name__}: {err}; "
                    "finished shards are kept, run the same command again to resume"
                ) from err
            if "fatal" in stats:
                raise stats["fatal"]
            progress(stats.get("inputs", stats["seen"]), stats["kept"], sum(stats["dropped"].values()))
            following = next(pending, None)
            if following is not None:
                running.add(submit(following))
