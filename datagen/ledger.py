"""Why the records of a generator's batch failed, and the one loop that turns a batch into its output.

Every generator works the same way: plan work per record, run it batched (TTS, ASR, an LLM), record each failure
against its owner, then emit a reject for each failed record and assemble the rest. `Ledger` holds the failures,
keyed by any hashable owner: a batch index for a record, `(index, k)` for the k-th item derived from it (a QA
pair, a trace). The first failure of an owner wins (later stages skip owners that already failed, so they spend no
model time on a lost cause). `Ledger.emit` is the last stage: one entry per input record, in batch order.

    ledger = Ledger()
    for i, sample in enumerate(batch):
        if not usable(sample):
            ledger.fail(i, "missing_field", "no passage")
    ... run the models on ledger.live(range(len(batch))) and `fail` what breaks ...
    return ledger.emit(self, batch, lambda i, sample: sample.evolve(meta=...))
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from datagen.records import Rejected, Sample
from datagen.steps import Step

K = TypeVar("K", bound=Hashable)

Output = Sample | Rejected | list[Sample | Rejected]


@dataclass(slots=True, frozen=True)
class Failure:
    """A stable snake_case `reason`, a human `detail`, and `meta` to keep on the reject (e.g. scores so far)."""

    reason: str
    detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Ledger:
    """The first failure of each owner (any hashable key) of one batch."""

    def __init__(self) -> None:
        self.failures: dict[Hashable, Failure] = {}

    def fail(self, owner: Hashable, reason: str, detail: str = "", **meta: Any) -> None:
        """Record why `owner` failed; an owner that already failed keeps its first reason."""
        self.failures.setdefault(owner, Failure(reason, detail, meta))

    def __contains__(self, owner: Hashable) -> bool:
        return owner in self.failures

    def __getitem__(self, owner: Hashable) -> Failure:
        return self.failures[owner]

    def live(self, owners: Iterable[K]) -> list[K]:
        """The owners that have not failed, in order."""
        return [owner for owner in owners if owner not in self.failures]

    def reject(self, step: Step, owner: Hashable, sample: Sample, **meta: Any) -> Rejected:
        """`sample` rejected with `owner`'s failure (its recorded meta, then `meta`)."""
        failure = self.failures[owner]
        return step.reject(sample, failure.reason, failure.detail, **{**failure.meta, **meta})

    def emit(
        self,
        step: Step,
        batch: Sequence[Sample],
        assemble: Callable[[int, Sample], Output],
        reject_meta: Callable[[int], dict[str, Any]] | None = None,
    ) -> list[Sample | Rejected]:
        """Per input in batch order: its reject if its index failed, else `assemble(index, sample)`.

        `assemble` returns one record or a list (fan-out: `{id}#k` records, some of which may be rejects);
        `reject_meta(index)` adds meta to a failed record (e.g. the speech it got before failing).
        """
        out: list[Sample | Rejected] = []
        for i, sample in enumerate(batch):
            if i in self.failures:
                out.append(self.reject(step, i, sample, **(reject_meta(i) if reject_meta else {})))
                continue
            made = assemble(i, sample)
            out.extend(made if isinstance(made, list) else [made])
        return out
