"""Run shards one after another in this process: the default, and what a Dask worker does per shard."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from datagen.allocator import keep_large_buffers
from datagen.backends.base import BackendError
from datagen.executors.progress import RunProgress
from datagen.pipeline import Pipeline
from datagen.readers import Plan, ShardSpec
from datagen.shards import OutputDir
from datagen.steps import ContractError

if TYPE_CHECKING:
    from datagen.manifest import Manifest

log = logging.getLogger(__name__)

RETRYABLE_ERRORS = (OSError, RuntimeError)  # a disk or device hiccup may pass; anything else would fail again
FATAL_ERRORS = (BackendError, ContractError)  # never retried: a missing model stays missing, a bug stays a bug


def commit_shard(
    pipeline: Pipeline, out: OutputDir, shard: ShardSpec, on_progress: Any = None, upcoming: ShardSpec | None = None
) -> dict[str, Any]:
    """Process one shard and commit it exactly once (the marker is written last); `upcoming` runs next."""
    result = pipeline.run_shard(shard, on_progress, upcoming)
    stats = {**result.stats, "input_digest": shard.digest}  # a resume redoes the shard if its input changed
    out.commit(shard.index, shard.count, result.kept, result.rejected, pipeline.meta_features(), stats)
    return stats


class LocalExecutor:
    def __init__(self, *, retries: int = 1, progress: bool = True) -> None:
        self.retries = retries
        self.progress = progress

    def run(self, manifest: Manifest, out: OutputDir, plan: Plan) -> None:
        with RunProgress(out, plan, enabled=self.progress) as progress:
            if not progress.todo:
                return
            keep_large_buffers()
            pipeline = Pipeline(manifest)
            try:
                for shard, upcoming in zip(progress.todo, [*progress.todo[1:], None], strict=True):
                    for attempt in range(self.retries + 1):
                        try:
                            commit_shard(pipeline, out, shard, progress, upcoming)
                            break
                        except RETRYABLE_ERRORS as err:
                            if attempt == self.retries:
                                raise
                            log.warning("shard %d failed (%r); retrying", shard.index, err)
            finally:
                pipeline.teardown()
