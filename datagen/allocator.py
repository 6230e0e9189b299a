"""Keep large freed buffers in the process instead of handing them back to the OS after every model call.

glibc serves a large allocation with its own `mmap` (above a threshold that adapts up to 32 MiB) and unmaps it on
`free`. CTranslate2 allocates Whisper's 30-s window buffers (over 32 MiB) afresh on each call, so every call
page-faults them in again: 0.42 M minor faults and ~0.9 s of system time for 8 clips on 2 cores, 12-18 % of the
ASR's wall time. With both thresholds raised, the buffers are reused from the heap (~40 MiB more peak memory).
The executors call this once per process that runs models; elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 128 << 20  # allocations up to this come from the heap: Whisper's window buffers fit
TRIM_THRESHOLD = 256 << 20  # free memory kept at the heap's top before it is returned


def keep_large_buffers() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True if glibc accepted both."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no C library by that name, or one without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    accepted = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not accepted:
        log.debug("mallopt refused the thresholds: large buffers stay mmap-backed")
    return accepted
