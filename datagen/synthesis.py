"""Where a speech step's synthesis runs, and in which pieces, so the verifier does not wait for all of the TTS.

A round of takes (`datagen.speech.Speaker._take`) is cut into chunks of about `asr_batch` takes (`verify_chunks`):
whole owners (records), in plan order. Each chunk is synthesized, heard (noise, length check, DNSMOS), then
verified in the step's thread (one ASR call, WER), chunk after chunk. Synthesis and hearing move:

- `pipeline: false`: a chunk is synthesized in the step's thread just before it is verified.
- `pipeline: true` (default): every chunk of the round goes to one background thread at once, so the next chunks
  are synthesized while this one is transcribed (onnxruntime, CTranslate2 and torch release the GIL as they run).
- `tts_workers: N`: the same in N spawned processes, each building the step's synthesizers from their settings and
  loading them once, at setup; a chunk's part for one backend is cut into up to N pieces, so it is ready sooner.
  A synthesizer with `threads: 0` (piper) gets its process's share of the cores, not every core.

With a pool (thread or processes), a batch's first takes can also be spoken before the batch starts: the pipeline
tells the step of the next batch (`Step.prefetch`) before verifying this one, and `SynthesisPool.speak_ahead`
queues them behind this batch's chunks. When the batch asks for the same text in the same voice, it gets that clip.
A retake of this batch is queued behind them, so it waits for the next batch's first takes.

Hearing (`heard`) runs, with `pipeline` and `mos`, on a second thread one chunk ahead of the verifier, so an
accelerator waits for neither the TTS nor the DNSMOS; otherwise in line, just before the chunk is verified.

The chunks, hence every ASR batch (and the packed Whisper windows formed inside one call) and the order in which
failures reach the ledger, are the same in all three modes. So is each clip: every engine speaks one text at a
time, seeded by its voice (`ItemSynthesizer`), whatever else shares its call. The output is therefore
byte-identical across modes (tested); only the timing changes. Hearing stays in the step's process, WER in its
thread. A synthesis process that dies breaks the pool: that is a `BackendError`, not a per-record failure.

One caveat of the thread: it shares the process with the verifier, so an engine seeding a process-wide generator
(coqui seeds torch's per item) stays reproducible only while the verifier draws no random numbers meanwhile. Greedy
verifiers (faster-whisper, Phi-4 at temperature 0) draw none; `tts_workers` gives every engine its own process.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from multiprocessing.connection import wait
from typing import Any

from datagen.backends.base import BackendError, Voice
from datagen.records import Audio
from datagen.takes import Utterance
from datagen.voices import engine_options

Group = list[Utterance]  # utterances taken together (one speaker): a record's turn, a passage's chunks


def verify_chunks(groups: Sequence[Group], size: int) -> list[list[Group]]:
    """The round's groups cut into chunks of about `size` takes, from the plan alone (never from timing).

    An owner's groups stay in one chunk, so a record is checked whole, as when the round was one call (an owner that
    already failed is not transcribed); a chunk closes before an owner that would take it past `size` (an owner
    larger than `size` is a chunk of its own). Groups keep their round order inside a chunk, so a round that fits
    in one chunk is verified exactly as before chunking.
    """
    owners: dict[Hashable, list[int]] = {}
    for i, group in enumerate(groups):
        owners.setdefault(group[0].owner, []).append(i)
    chunks: list[list[int]] = []
    taken = 0
    for indices in owners.values():
        n = sum(len(groups[i]) for i in indices)
        if chunks and taken + n <= size:
            chunks[-1].extend(indices)
            taken += n
        else:
            chunks.append(list(indices))
            taken = n
    return [[groups[i] for i in sorted(chunk)] for chunk in chunks]


class _Now:
    """A synthesis call made when its result is asked for (a backend without a pool: `pipeline: false`)."""

    def __init__(self, backend: Any, texts: list[str], voices: list[Voice]) -> None:
        self.call = (backend, texts, voices)

    def result(self) -> list[Audio | None]:
        backend, texts, voices = self.call
        return list(backend.synthesize(texts, voices))

    def cancel(self) -> None:
        pass


def synthesized(chunks: Sequence[Sequence[Group]], backends: Mapping[str, Any]) -> Iterator[list[Audio | None]]:
    """The audio of each chunk's takes (in take order), chunk after chunk.

    A pooled backend (`PooledSynthesizer`) receives every chunk at once and works ahead; any other backend is called
    when its chunk is reached. When the generator closes (the caller raised), work not yet started is dropped
    and running work is waited for.
    """
    jobs = [_submit(chunk, backends) for chunk in chunks]
    try:
        for chunk, parts in zip(chunks, jobs, strict=True):
            audio: dict[int, Audio | None] = {}
            for takes, job in parts:
                for u, clip in zip(takes, job.result(), strict=True):
                    audio[id(u)] = clip
            yield [audio[id(u)] for group in chunk for u in group]
    finally:
        for parts in jobs:
            for _, job in parts:
                job.cancel()


def heard(
    chunks: Sequence[list[Group]],
    spoken: Iterable[list[Audio | None]],
    hear: Callable[[list[Group], list[Audio | None]], None],
    *,
    ahead: bool,
) -> Iterator[list[Group]]:
    """Each chunk once `hear(chunk, audios)` has run on it, in order.

    With `ahead`, `hear` runs on a thread for the next chunk while the caller verifies this one (onnxruntime
    releases the GIL in DNSMOS); `hear` must then touch only its own chunk's takes. The next chunk's audio is
    taken before this chunk is handed over, so `spoken` should be synthesizing ahead (a `SynthesisPool`).
    """
    if not ahead:
        for chunk, audios in zip(chunks, spoken, strict=True):
            hear(chunk, audios)
            yield chunk
        return
    with ThreadPoolExecutor(1, thread_name_prefix="datagen-hear") as hearing:
        previous: tuple[list[Group], Future[None]] | None = None
        for chunk, audios in zip(chunks, spoken, strict=True):
            job = hearing.submit(hear, chunk, audios)
            if previous is not None:
                previous[1].result()
                yield previous[0]
            previous = (chunk, job)
        if previous is not None:
            previous[1].result()
            yield previous[0]


def _submit(chunk: Sequence[Group], backends: Mapping[str, Any]) -> list[tuple[list[Utterance], Any]]:
    by_backend: dict[str, list[Utterance]] = {}
    for u in (u for group in chunk for u in group):
        by_backend.setdefault(u.takes[-1].voice.backend, []).append(u)
    parts = []
    for name, takes in by_backend.items():
        texts, voices = [u.spoken for u in takes], [engine_options(u.takes[-1].voice) for u in takes]
        backend = backends[name]
        submit = getattr(backend, "submit_synthesis", None)
        parts.append((takes, submit(texts, voices) if submit else _Now(backend, texts, voices)))
    return parts


class SynthesisPool:
    """A speech step's synthesis executor: one background thread (`workers` 0) or `workers` processes.

    Started at the step's setup and closed at its teardown; `wrap` gives the step its synthesizers as
    `PooledSynthesizer`s, which `synthesized` hands whole rounds ahead of the verifier.
    """

    def __init__(self, executor: Executor, workers: int, backends: Mapping[str, Any]) -> None:
        self.executor = executor
        self.workers = workers
        self.backends = dict(backends)  # the step's own synthesizers, by manifest name
        # takes spoken ahead (`speak_ahead`), by (synthesizer, text, voice): the latest batch's and the one before
        self._ahead: dict[Hashable, tuple[Pending, int]] = {}
        self._behind: dict[Hashable, tuple[Pending, int]] = {}

    @classmethod
    def start(cls, backends: Mapping[str, Any], workers: int, *, label: str) -> SynthesisPool:
        """A thread (`workers` 0), or `workers` processes that have loaded every synthesizer in `backends`."""
        if not workers:
            return cls(ThreadPoolExecutor(1, thread_name_prefix="datagen-tts"), 0, backends)
        if multiprocessing.current_process().daemon:
            raise BackendError(
                f"{label}: tts_workers: {workers} starts processes, which a daemonic process (a Dask worker, by "
                "default) may not: set the Dask config distributed.worker.daemon to false, or use tts_workers: 0"
            )
        specs = worker_specs(backends, workers)
        context = multiprocessing.get_context("spawn")  # no forked copy of loaded models, threads or locks
        # every process answers one roll call, and none before all have started: the executor, which starts a process
        # per call while none is idle, so starts all of them now and each loads its models at setup, not mid-shard
        roll_call = context.Barrier(workers)
        executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(specs, roll_call)
        )
        pool = cls(executor, workers, backends)
        try:
            problems = [f.result() for f in [executor.submit(_answer_roll_call) for _ in range(workers)]]
        except (BrokenExecutor, threading.BrokenBarrierError) as err:
            pool.close()
            raise BackendError(f"{label}: a tts_workers process died or hung while starting ({err!r})") from err
        if problem := next((p for p in problems if p), ""):
            pool.close()
            raise BackendError(f"{label}: a tts_workers process cannot load its synthesizers: {problem}")
        return pool

    def wrap(self, backends: Mapping[str, Any]) -> dict[str, Any]:
        """`backends` with each synthesizer of this pool replaced by its `PooledSynthesizer`."""
        return {name: PooledSynthesizer(self, name) if name in self.backends else b for name, b in backends.items()}

    def speak_ahead(self, takes: Sequence[tuple[str, str, Voice]], size: int) -> None:
        """Start synthesizing the next batch's first takes, (synthesizer, text, voice) each, in calls of `size`.

        `submit` hands them out when the batch asks for the same text and voice: every clip is the same whatever
        else shares its call (`ItemSynthesizer`), so the output does not change. Takes of the batch before the
        current one are forgotten (two batches are held at most); queued work is not cancelled, since a batch may be
        re-run record by record and ask again."""
        self._behind, self._ahead = self._ahead, {}
        by_name: dict[str, list[tuple[str, Voice]]] = {}
        queued: set[Hashable] = set()
        for name, text, voice in takes:
            key = _key(name, text, voice)
            if key in self._behind:  # the same take in the current batch: one synthesis serves both
                self._ahead[key] = self._behind[key]
            elif name in self.backends and key not in queued:
                queued.add(key)
                by_name.setdefault(name, []).append((text, voice))
        for name, items in by_name.items():
            for at in range(0, len(items), size):
                texts, voices = [t for t, _ in items[at : at + size]], [v for _, v in items[at : at + size]]
                pending = self._start(name, texts, voices)
                for i, (text, voice) in enumerate(zip(texts, voices, strict=True)):
                    self._ahead.setdefault(_key(name, text, voice), (pending, i))

    def submit(self, name: str, texts: list[str], voices: list[Voice]) -> Pending | Assembled:
        """`texts` spoken by synthesizer `name`, reusing what `speak_ahead` started for the same text and voice."""
        found = [self._spoken_ahead(_key(name, text, voice)) for text, voice in zip(texts, voices, strict=True)]
        if not any(found):
            return self._start(name, texts, voices)
        missing = [i for i, hit in enumerate(found) if hit is None]
        fresh = self._start(name, [texts[i] for i in missing], [voices[i] for i in missing]) if missing else None
        return Assembled(found, fresh)

    def _spoken_ahead(self, key: Hashable) -> tuple[Pending, int] | None:
        """The clip spoken ahead for `key`, unless its call failed: a batch re-run record by record after a failed
        call must get fresh calls, so that only the record that broke it fails again."""
        hit = self._ahead.get(key) or self._behind.get(key)
        return None if hit is None or hit[0].failed else hit

    def _start(self, name: str, texts: list[str], voices: list[Voice]) -> Pending:
        try:
            if not self.workers:
                return Pending(self, name, [self.executor.submit(self.backends[name].synthesize, texts, voices)])
            pieces = [
                (len(texts) * i // self.workers, len(texts) * (i + 1) // self.workers) for i in range(self.workers)
            ]
            return Pending(
                self,
                name,
                [self.executor.submit(_synthesize, name, texts[a:b], voices[a:b]) for a, b in pieces if b > a],
            )
        except BrokenExecutor as err:
            raise _died(err) from err

    def close(self) -> None:
        """Stop the thread or processes: queued work is dropped, running work finishes, processes are joined."""
        self._ahead, self._behind = {}, {}
        self.executor.shutdown(wait=True, cancel_futures=True)


def _key(name: str, text: str, voice: Voice) -> Hashable:
    return name, text, repr(voice)  # a voice's options are a dict: its repr stands for it


class Pending:
    """Synthesis handed to a pool: `result()` waits for it (and keeps it); `cancel()` drops what has not started."""

    def __init__(self, pool: SynthesisPool, name: str, futures: list[Future[Any]]) -> None:
        self.pool, self.name, self.futures = pool, name, futures
        self._result: list[Audio | None] | None = None

    def result(self) -> list[Audio | None]:
        if self._result is None:
            self._result = self._gather()
        return self._result

    @property
    def failed(self) -> bool:
        """The call raised or was cancelled (so far: one still running has not failed yet)."""
        return any(f.done() and (f.cancelled() or f.exception() is not None) for f in self.futures)

    def _gather(self) -> list[Audio | None]:
        out: list[Audio | None] = []
        for future in self.futures:
            try:
                done = future.result()
            except BrokenExecutor as err:
                raise _died(err) from err
            if self.pool.workers:  # (audio, seconds) from a process: its model time counts as the backend's
                done, seconds = done
                _count_model_time(self.pool.backends[self.name], seconds)
            out.extend(done)
        return out

    def cancel(self) -> None:
        """Drop what has not started and wait for what has: no stale synthesis runs on into the next call."""
        for future in self.futures:
            future.cancel()
        wait_for(self.futures)


class Assembled:
    """A call's clips, some spoken ahead (`found`: a `Pending` and the clip's index in it), the rest in `fresh`."""

    def __init__(self, found: list[tuple[Pending, int] | None], fresh: Pending | None) -> None:
        self.found, self.fresh = found, fresh

    def result(self) -> list[Audio | None]:
        rest = iter(self.fresh.result() if self.fresh else [])
        return [next(rest) if hit is None else hit[0].result()[hit[1]] for hit in self.found]

    def cancel(self) -> None:
        """Only the fresh part is this call's own: what was spoken ahead stays for whoever asks for it next."""
        if self.fresh is not None:
            self.fresh.cancel()


class PooledSynthesizer:
    """A step's synthesizer whose calls run in the step's `SynthesisPool`; everything else is the backend's own."""

    def __init__(self, pool: SynthesisPool, name: str) -> None:
        self._pool, self._name = pool, name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # not set yet (a copy being built): never recurse into the backend lookup
            raise AttributeError(attr)
        return getattr(self._pool.backends[self._name], attr)

    def submit_synthesis(self, texts: list[str], voices: list[Voice]) -> Pending | Assembled:
        return self._pool.submit(self._name, texts, voices)

    def synthesize(self, texts: list[str], voices: list[Voice]) -> list[Audio | None]:
        return self.submit_synthesis(texts, voices).result()


def worker_specs(backends: Mapping[str, Any], workers: int, cores: int | None = None) -> list[tuple[str, str, Any]]:
    """(name, engine, settings as plain data) per synthesizer, for each of `workers` processes to build its own.

    Plain data, because a manifest's settings class is built at run time and cannot be pickled. `threads: 0`
    (every core) becomes the process's share of the cores: N processes each using every core slow each other down
    (2 cores, 2 piper processes: 7.3 clips/s so, 12.1 with one thread each).
    """
    share = max(1, (cores or usable_cores()) // workers)
    specs = []
    for name, backend in backends.items():
        settings = backend.settings.model_dump(exclude={"engine"})
        if settings.get("threads") == 0:
            settings["threads"] = share
        specs.append((name, backend.engine, settings))
    return specs


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which a container or `taskset` may narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _died(err: BaseException) -> BackendError:
    return BackendError(f"a tts_workers process died (killed, or out of memory?): {err}")


def _count_model_time(backend: Any, seconds: float) -> None:
    """Add a process's synthesis time to the pipeline's per-backend model time (`TimedBackend`), if it keeps one."""
    if isinstance(getattr(backend, "seconds", None), float) and isinstance(getattr(backend, "calls", None), int):
        backend.seconds += seconds
        backend.calls += 1


# -- inside a tts_workers process ----------------------------------------------------------------------------

_LOADED: dict[str, Any] = {}
_PROBLEMS: list[str] = []
_ROLL_CALL: list[Any] = []
_START_SECONDS = 600.0  # a process not started by then (the others wait for it at the roll call) fails setup


def _start_worker(specs: Iterable[tuple[str, str, Any]], roll_call: Any) -> None:
    """Build and load the synthesizers once; a load failure is reported by every call (a clear message at setup)."""
    from datagen.registry import backend_class

    _exit_with_parent()
    _ROLL_CALL.append(roll_call)
    try:
        for name, engine, settings in specs:
            cls = backend_class(engine)
            backend = cls(cls.Settings.model_validate(settings), name=name)
            backend.setup()
            _LOADED[name] = backend
    except Exception as err:  # whatever a loader raises, the step's setup reports it and stops the run
        _PROBLEMS.append(f"{type(err).__name__}: {err}")


def _exit_with_parent() -> None:
    """End this process when its parent ends, even by SIGKILL (a pool's workers otherwise wait on it forever)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="datagen-tts-parent-watch", daemon=True).start()


def _answer_roll_call() -> str:
    """Why this process cannot synthesize ("" when it can), once every process of the pool has started."""
    _ROLL_CALL[0].wait(_START_SECONDS)
    return _PROBLEMS[0] if _PROBLEMS else ""


def _synthesize(name: str, texts: list[str], voices: list[Voice]) -> tuple[list[Audio | None], float]:
    if _PROBLEMS:
        raise BackendError(_PROBLEMS[0])
    started = time.perf_counter()
    audios = _LOADED[name].synthesize(texts, voices)
    return list(audios), time.perf_counter() - started
