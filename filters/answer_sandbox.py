"""Symbolic answer equivalence in a sandboxed, killable subprocess (math-verify + sympy).

Why a subprocess and not math-verify's own timeout: math-verify times out with `signal.alarm`, which only works in
the main thread (it raises in threads and Dask workers), takes whole seconds, and cannot interrupt C code at all:
sympy evaluating `10^{10^{10}}` sits inside one CPython big-integer multiplication that no signal breaks into.
Only killing a process bounds that. So each check runs in a long-lived worker process (started once, reused, the
~1 s sympy import paid once per worker) that:

- parses with math-verify's LaTeX parser only. Its `ExprExtractionConfig` path calls sympy's `parse_expr`, i.e.
  `eval`, on raw text, so it is never enabled; the sandbox is a second wall, not the first;
- times itself out with `setitimer` (sub-second, main thread of the worker) so a slow Python-level check costs no
  restart, while the parent kills the worker outright when the wall-clock budget is spent (C-level hangs);
- limits its own address space (1 GiB: huge integers fail with MemoryError instead of eating the machine), CPU
  seconds per request, file size (0: it can write no file contents) and processes (0: no fork, no `os.system`),
  and drops root to `nobody` when started as root (root ignores the process limit).

The parent talks JSON lines over pipes (`subprocess`, not `multiprocessing`, so it also works inside daemonic Dask
worker processes and from any thread). Workers are pooled: a call takes an idle worker or starts one, so threads
never queue behind each other's timeouts (as many workers as concurrent callers; at most 2 stay idle). Any failure
(timeout, crash, bad reply) is reported as "no match" with a reason; nothing here raises to the caller.

This file is also the worker's entry point: the parent runs it by path with `python -I`, so it imports only the
standard library at module level.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

__all__ = ["SymbolicResult", "shutdown", "symbolic_equal", "warm_up"]

STARTUP_TIMEOUT = 60.0  # seconds for a fresh worker to import sympy + math-verify (a loaded 2-core box is slow)
MAX_EXPR_CHARS = 2000  # longer answers are refused before they reach a parser
MAX_IDLE_WORKERS = 2
_WORKER_TIMER_FRACTION = 0.8  # the worker's own timer fires at 80 % of the budget; the parent kills at 100 %
_MEMORY_LIMIT = 1 << 30


@dataclass(frozen=True)
class SymbolicResult:
    """Outcome of one sandboxed check: `detail` says why it did not match (`timeout`, `unparsed`, `worker_died`)."""

    match: bool
    detail: str


class _Worker:
    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            start_new_session=True,  # its own process group: a kill never reaches the caller
            env=env,
        )
        self._buf = b""
        self.ready = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def read_line(self, deadline: float) -> bytes | None:
        """One reply line, or None when the deadline passes or the worker dies."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def wait_ready(self) -> bool:
        if not self.ready:
            self.ready = self.read_line(time.monotonic() + STARTUP_TIMEOUT) == b"ready"
        return self.ready

    def ask(self, pred: str, ref: str, timeout: float) -> SymbolicResult:
        if not self.wait_ready():
            self.kill()
            return SymbolicResult(False, "worker_start_failed")
        request = json.dumps({"pred": pred, "ref": ref, "timeout": timeout * _WORKER_TIMER_FRACTION}) + "\n"
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
        except OSError:
            self.kill()
            return SymbolicResult(False, "worker_died")
        line = self.read_line(time.monotonic() + timeout)
        if line is None:
            died = not self.alive()
            self.kill()
            return SymbolicResult(False, "worker_died" if died else "timeout")
        try:
            reply = json.loads(line)
            return SymbolicResult(bool(reply["match"]), str(reply["detail"]))
        except (ValueError, KeyError, TypeError):
            self.kill()
            return SymbolicResult(False, "bad_reply")

    def kill(self) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


_lock = threading.Lock()
_idle: list[_Worker] = []
_cache: dict[tuple[str, str], SymbolicResult] = {}
_CACHE_SIZE = 4096


def _forget_inherited_workers() -> None:
    """A forked child must not share its parent's workers (two readers on one pipe): it starts its own."""
    global _lock, _idle
    _lock, _idle = threading.Lock(), []


os.register_at_fork(after_in_child=_forget_inherited_workers)


def _checkout() -> _Worker:
    with _lock:
        while _idle:
            worker = _idle.pop()
            if worker.alive():
                return worker
            worker.kill()
    return _Worker()


def _checkin(worker: _Worker) -> None:
    if not worker.alive():
        return
    with _lock:
        if len(_idle) < MAX_IDLE_WORKERS:
            _idle.append(worker)
            return
    worker.kill()


def warm_up() -> bool:
    """Start a worker now (and wait until it has imported sympy), so the first real check pays no startup."""
    worker = _checkout()
    ok = worker.wait_ready()
    _checkin(worker)
    return ok


def shutdown() -> None:
    """Kill the idle workers (also run at interpreter exit)."""
    with _lock:
        workers, _idle[:] = list(_idle), []
    for worker in workers:
        worker.kill()


atexit.register(shutdown)


def symbolic_equal(pred: str, ref: str, *, timeout: float = 2.0) -> SymbolicResult:
    """Whether two LaTeX answers are mathematically equal, decided within `timeout` wall-clock seconds of checking.

    Worker startup (once per worker) is not counted in `timeout`; call `warm_up()` early to take it off the path.
    Timeouts are not cached (they may be load, not the input); definite answers are.
    """
    if len(pred) > MAX_EXPR_CHARS or len(ref) > MAX_EXPR_CHARS:
        return SymbolicResult(False, "too_long")
    key = (pred, ref)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    try:
        worker = _checkout()
    except OSError as exc:  # cannot start a process (limits, fds): no verdict, not a crash
        return SymbolicResult(False, f"sandbox_error: {type(exc).__name__}")
    try:
        result = worker.ask(pred, ref, max(timeout, 0.05))
    except Exception as exc:  # never let a sandbox problem reach the caller
        worker.kill()
        result = SymbolicResult(False, f"sandbox_error: {type(exc).__name__}")
    try:
        if worker.alive():
            _checkin(worker)
        else:  # killed on timeout: start its replacement now, so its import overlaps the caller's other work
            _checkin(_Worker())
    except OSError:
        pass
    if result.detail in ("match", "different", "unparsed"):
        with _lock:
            if len(_cache) >= _CACHE_SIZE:
                _cache.clear()
            _cache[key] = result
    return result


# ---------------------------------------------------------------- worker side (runs in the sandboxed process)


_WARM_UP = (
    ("\\boxed{x^2-1}", "\\boxed{(x-1)(x+1)}"),
    ("\\boxed{\\sqrt{8}}", "\\boxed{2\\sqrt{2}}"),
    ("\\boxed{[0,1]\\cup[2,3]}", "\\boxed{[2,3]\\cup[0,1]}"),
    ("\\boxed{\\{1, 2\\}}", "\\boxed{\\{2, 1\\}}"),
    ("\\boxed{x \\in [0, 1]}", "\\boxed{\\frac{\\pi}{2}}"),
)


class _CheckTimeout(BaseException):
    """BaseException so that sympy's broad `except Exception` blocks cannot swallow the timer."""


def _confine() -> None:  # pragma: no cover - runs in the sandbox process
    """Once the checker is imported: no memory beyond the cap, no files, no processes, no privileges."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT, _MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir("/")
    if os.geteuid() == 0:  # root ignores RLIMIT_NPROC and owns every file: become `nobody` for the checks
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        except OSError:
            pass


def _serve() -> None:  # pragma: no cover - exercised through the subprocess in tests
    import logging
    import resource
    import signal

    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from libraries go to stderr (/dev/null), never into the reply stream
    sys.stdout = sys.stderr
    logging.disable(logging.CRITICAL)
    sys.setrecursionlimit(3000)

    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig(boxed_match_priority=0)]
    # sympy imports much of itself lazily, on the first simplify or set operation: do that while the files can
    # still be read, since `_confine` may drop to `nobody`, who cannot read a virtualenv inside a private folder
    for pred, ref in _WARM_UP:
        verify(parse(pred, extraction_config=config), parse(ref, extraction_config=config))

    _confine()

    def on_alarm(signum: int, frame: object) -> None:
        raise _CheckTimeout

    signal.signal(signal.SIGALRM, on_alarm)
    out.write("ready\n")

    for line in sys.stdin:
        try:
            request = json.loads(line)
            budget = float(request["timeout"])
            used = resource.getrusage(resource.RUSAGE_SELF)
            cpu_cap = int(used.ru_utime + used.ru_stime + budget) + 2
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_cap, resource.RLIM_INFINITY))
            signal.setitimer(signal.ITIMER_REAL, budget)
            try:
                # math-verify's own timeouts are off: they would reset our timer with signal.alarm.
                gold = parse("\\boxed{" + request["ref"] + "}", extraction_config=config, parsing_timeout=None)
                pred = parse("\\boxed{" + request["pred"] + "}", extraction_config=config, parsing_timeout=None)
                if not gold or not pred:
                    detail = "unparsed"
                else:
                    detail = "match" if verify(gold, pred, timeout_seconds=None) else "different"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _CheckTimeout:
            detail = "timeout"
        except MemoryError:
            detail = "memory_limit"
        except RecursionError:
            detail = "too_deep"
        except Exception as exc:
            detail = f"error: {type(exc).__name__}"
        out.write(json.dumps({"match": detail == "match", "detail": detail}) + "\n")


if __name__ == "__main__":
    _serve()
