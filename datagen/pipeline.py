"""One shard through the steps: source → steps → (kept, rejected, stats).

The pipeline owns what every step would otherwise repeat: batching, isolating a record whose step raises,
counting seen/kept/dropped per reason, and timing each step and each backend call (model-seconds).

Bad data and bugs are told apart: a record a step raises on becomes a `step_error` reject and the run goes on;
a step that loses or invents records (`ContractError`) or a backend that cannot load (`BackendError`) stops the
run with a clear message, since re-running or retrying would only pay the model time again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

from datagen import registry
from datagen.backends.base import ROLES, BackendError
from datagen.readers import ShardSpec, Source, open_input
from datagen.records import Rejected, Sample
from datagen.stats import add_figures
from datagen.steps import ContractError, Step

if TYPE_CHECKING:
    from datagen.manifest import Manifest
    from datagen.refilter import CurateManifest

log = logging.getLogger(__name__)


class TimedBackend:
    """Forwards to a backend and adds the wall time of its model calls (the methods of `ROLES`) to `seconds`."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.seconds = 0.0
        self.calls = 0

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._backend, attr)
        if attr not in ROLES:
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        return timed


@dataclass(slots=True)
class ShardResult:
    kept: list[Sample] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    """Built from a validated manifest; `setup()` loads models once, then any number of shards run."""

    def __init__(self, manifest: Manifest | CurateManifest, source: Source | None = None) -> None:
        """`source`: what the shards are read from, if not the manifest's `input` (`datagen filter`: a dataset)."""
        self.manifest = manifest
        self.backends: dict[str, TimedBackend] = {
            name: TimedBackend(registry.backend_class(spec.engine)(spec, name=name))
            for name, spec in manifest.backends.items()
        }
        self.steps: list[Step] = [registry.step_class(cfg.step)(cfg, seed=manifest.seed) for cfg in manifest.steps]
        self.source: Source = source if source is not None else open_input(manifest.input)
        self._read_ahead: tuple[ShardSpec, list[Sample | Rejected], Iterator[list[Any]]] | None = None
        self._ready = False
        self._setup_seconds = 0.0  # reported once, by the first shard after setup
        # model time and calls counted so far; a shard reports what was spent since the previous one ended, so
        # synthesis for the upcoming shard, done while this one ran, is counted once, here
        self._model_mark: dict[str, tuple[float, int]] | None = None

    def meta_features(self) -> dict[str, Any]:
        features: dict[str, Any] = dict(self.source.meta_features())
        for step in self.steps:
            features.update(step.features())
        return features

    def used_backends(self) -> list[str]:
        return sorted({ref.name for step in self.steps for ref in step.backend_refs(step.config)})

    def setup(self) -> None:
        if self._ready:
            return
        started = time.perf_counter()
        for name in self.used_backends():
            try:
                self.backends[name].setup()
            except BackendError:
                raise
            except Exception as err:  # whatever a loader raises, a model that cannot load is not worth a retry
                raise BackendError(f"backend {name!r} cannot load: {type(err).__name__}: {err}") from err
        for step in self.steps:
            step.setup(self.backends)
        self._ready = True
        self._setup_seconds = time.perf_counter() - started

    def teardown(self) -> None:
        for step in self.steps:
            step.teardown()
        for backend in self.backends.values():
            backend.teardown()
        self._read_ahead = None
        self._ready = False

    def run_shard(
        self,
        shard: ShardSpec,
        on_progress: Callable[[int, int, int], None] | None = None,
        upcoming: ShardSpec | None = None,
    ) -> ShardResult:
        """`on_progress(read, kept, dropped)` is called per chunk of input records, for a progress bar.

        `read` counts input records; `kept` and `dropped` count output records, which differ with fan-out.
        The first step hears of each chunk (`Step.prefetch`) before the chunk ahead of it is processed, and of the
        first chunk of `upcoming` (the shard run next, read now and kept for it) before the last: a speech step
        synthesizes ahead, so its verifier never waits for TTS between chunks or shards. A chunk it did not hear
        of that way (a shard's first, unless read ahead) it hears of just before the next, so it is spoken first.
        """
        started = time.perf_counter()
        self.setup()
        backend_before = self._model_mark or self._model_counts()
        result = ShardResult()
        step_seconds: dict[str, float] = defaultdict(float)
        for step in self.steps:
            step.tally.clear()
        chunk_size = max(step.config.batch_size for step in self.steps)
        inputs = 0
        chunks, told = self._chunks_of(shard, chunk_size)
        for chunk, following in _with_next(chunks):
            if following is None and upcoming is not None:
                following = self._read_first_chunk(upcoming, chunk_size)
            t0 = time.perf_counter()
            if not told:  # nothing spoke this chunk ahead (a shard's first): queued before the next one
                self._prefetch(chunk)
            if following:
                self._prefetch(following)
            step_seconds[self.steps[0].name] += time.perf_counter() - t0
            told = following is not None
            inputs += len(chunk)
            rejected_before = len(result.rejected)
            samples: list[Sample] = []
            for item in chunk:
                (result.rejected if isinstance(item, Rejected) else samples).append(item)
            for step in self.steps:
                if not samples:
                    break
                t0 = time.perf_counter()
                survivors: list[Sample] = []
                for batch in _chunks(samples, step.config.batch_size):
                    for item in self._run_step(step, batch):
                        (result.rejected if isinstance(item, Rejected) else survivors).append(item)
                step_seconds[step.name] += time.perf_counter() - t0
                samples = survivors
            result.kept.extend(samples)
            if on_progress:
                on_progress(len(chunk), len(samples), len(result.rejected) - rejected_before)
        result.stats = self._stats(shard, result, step_seconds, backend_before, time.perf_counter() - started)
        result.stats["inputs"] = inputs
        self._setup_seconds = 0.0
        return result

    def _model_counts(self) -> dict[str, tuple[float, int]]:
        return {name: (b.seconds, b.calls) for name, b in self.backends.items()}

    def _chunks_of(self, shard: ShardSpec, size: int) -> tuple[Iterator[list[Sample | Rejected]], bool]:
        """The shard's records in chunks, and whether the first was read ahead (so the first step heard of it)."""
        ahead, self._read_ahead = self._read_ahead, None
        if ahead is not None and ahead[0] == shard:
            return chain([ahead[1]], ahead[2]), True
        return _chunks(self.source.read(shard), size), False

    def _read_first_chunk(self, shard: ShardSpec, size: int) -> list[Sample | Rejected] | None:
        """Read `shard`'s first chunk now, kept for its `run_shard`; None if it cannot be read (its run says why)."""
        chunks = _chunks(self.source.read(shard), size)
        try:
            first = next(chunks, None)
        except Exception as err:  # a changed or unreadable input: reported by the shard's own run, not this one
            log.debug("shard %d cannot be read ahead: %r", shard.index, err)
            return None
        if first is not None:
            self._read_ahead = (shard, first, chunks)
        return first

    def _prefetch(self, chunk: Sequence[Sample | Rejected]) -> None:
        """Tell the first step what comes next; a hint, so only a backend failure (which stops the run) escapes."""
        samples = [item for item in chunk if isinstance(item, Sample)]
        if not samples:
            return
        try:
            self.steps[0].prefetch(samples)
        except BackendError:
            raise
        except Exception as err:  # the step's `process` meets the same problem and isolates the record
            log.debug("step %s: prefetch failed: %r", self.steps[0].name, err)

    def _run_step(self, step: Step, batch: list[Sample]) -> list[Sample | Rejected]:
        """Run a batch; if it raises, run its records one by one so only the bad record is rejected.

        The contract check sits outside the isolation: a step that loses records is a bug, not bad data.
        """
        tally = step.tally.copy()
        try:
            out = step.process(batch)
        except (ContractError, BackendError):
            raise
        except Exception as err:  # the isolation boundary: any failure of a step's code must not end the run
            step.tally = tally  # its records are counted again as they re-run
            if self.manifest.on_error == "raise":
                raise
            if len(batch) == 1:
                log.warning("step %s failed on %s: %r", step.name, batch[0].id, err)
                return [step.reject(batch[0], "step_error", f"{type(err).__name__}: {err}"[:1000])]
            return [item for sample in batch for item in self._run_step(step, [sample])]
        _check_accounted(step.name, batch, out)
        return out

    def _stats(
        self,
        shard: ShardSpec,
        result: ShardResult,
        step_seconds: dict[str, float],
        backend_before: dict[str, tuple[float, int]],
        wall: float,
    ) -> dict[str, Any]:
        reasons = Counter(f"{r.step}:{r.reason}" for r in result.rejected)
        self._model_mark = now = self._model_counts()
        backends = {
            name: {"seconds": round(seconds - backend_before[name][0], 4), "calls": calls - backend_before[name][1]}
            for name, (seconds, calls) in now.items()
            if calls > backend_before[name][1]
        }
        steps: dict[str, Any] = self.source.step_figures(result.kept, result.rejected)
        for step in self.steps:
            if figures := step.stats_for_shard(result.kept, result.rejected):
                steps[step.name] = add_figures(steps.get(step.name, {}), figures)
        return {
            "shard": shard.index,
            "records": shard.stop - shard.start,
            "seen": len(result.kept) + len(result.rejected),  # output records; `inputs` counts what was read
            "kept": len(result.kept),
            "dropped": dict(sorted(reasons.items())),
            "wall_seconds": round(wall, 4),
            "setup_seconds": round(self._setup_seconds, 4),
            "step_seconds": {k: round(v, 4) for k, v in step_seconds.items()},
            "backend_seconds": backends,
            "values": {
                "kept": numeric_values([s.meta for s in result.kept]),
                "dropped": numeric_values([r.sample.meta for r in result.rejected if r.sample]),
                "audio_seconds": [round(a.duration, 3) for s in result.kept for a in s.audios],
            },
            "steps": steps,
        }


def _check_accounted(step: str, batch: list[Sample], out: list[Sample | Rejected]) -> None:
    """Every input must leave as itself, as derived records (`{id}#{suffix}`), or as a reject: none vanish.

    Fan-out is allowed (k kept traces per problem, k QA pairs per passage); a derived id names its parent so a
    record's lineage survives into the dataset.
    """
    parents = {s.id for s in batch}
    seen: set[str] = set()
    for item in out:
        parent = next((p for p in _prefixes(item.id) if p in parents), None)
        if parent is None:
            raise ContractError(
                f"step {step} emitted {item.id!r}, which derives from no input of its batch: a bug in the step"
            )
        seen.add(parent)
    if missing := parents - seen:
        raise ContractError(
            f"step {step} lost {len(missing)} record(s) without a reject: {sorted(missing)[:5]}: a bug in the step"
        )


def _prefixes(record_id: str) -> list[str]:
    """The id itself, then each `#`-prefix, longest first (input ids may contain '#' themselves)."""
    cuts = [i for i, ch in enumerate(record_id) if ch == "#"]
    return [record_id, *(record_id[:i] for i in reversed(cuts))]


def numeric_values(metas: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Every numeric score in meta, by key: what stats.json summarizes as distributions."""
    values: dict[str, list[float]] = defaultdict(list)
    for meta in metas:
        for key, value in meta.items():
            if key != "source_index" and isinstance(value, int | float) and not isinstance(value, bool):
                values[key].append(value)
    return dict(values)


def _with_next(items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    """Each item with the one after it (None after the last), read before the item is handed out."""
    it = iter(items)
    current = next(it, None)
    while current is not None:
        following = next(it, None)
        yield current, following
        current = following


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
