"""The run's progress bar, shared by the executors: finished shards count from the start; kept / dropped live."""

from __future__ import annotations

from types import TracebackType

from tqdm import tqdm

from datagen.readers import Plan, ShardSpec
from datagen.shards import OutputDir


class RunProgress:
    """Call it with (read, kept, dropped) as records finish; `todo` holds the shards a (re)run still has to do.

    The bar counts input records (its total is the plan's); kept and dropped count output records, which differ
    from the inputs when a step fans out (k traces per problem), so neither is derived from the other.
    """

    def __init__(self, out: OutputDir, plan: Plan, *, enabled: bool = True) -> None:
        self.todo: list[ShardSpec] = [s for s in plan.shards if not out.is_done(s.index, s.digest)]
        done = plan.total - sum(s.stop - s.start for s in self.todo)
        self.counts = {"kept": 0, "dropped": 0}
        self._bar = tqdm(total=plan.total, initial=done, unit="rec", disable=not enabled)

    def __call__(self, read: int, kept: int, dropped: int) -> None:
        self.counts["kept"] += kept
        self.counts["dropped"] += dropped
        self._bar.update(read)
        self._bar.set_postfix(self.counts, refresh=False)

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._bar.close()
