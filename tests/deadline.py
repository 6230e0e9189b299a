"""A hard time limit for tests of input-size attacks: a quadratic regex fails the test instead of hanging the suite.

The bound is generous (seconds where the linear code takes milliseconds and the quadratic one minutes), so it
measures the algorithm, not the machine. `re` checks for signals while matching, so the alarm interrupts it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class DeadlineExceeded(AssertionError):
    pass


@contextmanager
def within(seconds: float, what: str = "the call") -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise DeadlineExceeded(f"{what} took longer than {seconds} s (super-linear on hostile input?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
