"""`keep_large_buffers`: a freed large buffer is reused from the heap, not page-faulted in again on every call."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Allocates, fills and frees a 64 MiB buffer twice through libc; prints the page faults of the second round.
_ROUNDS = r"""
import ctypes, resource, sys
from datagen.allocator import keep_large_buffers
if sys.argv[1] == "tuned":
    assert keep_large_buffers()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def faults(n=64 << 20):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    p = libc.malloc(n)
    ctypes.memset(p, 1, n)
    libc.free(p)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults()
print(faults())
"""
PAGES = (64 << 20) // 4096


def _second_round_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", _ROUNDS, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")
def test_a_freed_large_buffer_is_reused_without_page_faults() -> None:
    untuned = _second_round_faults("default")
    if untuned < PAGES // 2:
        pytest.skip(f"this machine backs large buffers otherwise ({untuned} faults for {PAGES} pages)")
    assert _second_round_faults("tuned") < PAGES // 20


def test_elsewhere_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from datagen import allocator

    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_large_buffers() is False
