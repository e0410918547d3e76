"""Tuning glibc's allocator for a render worker, whose life is a loop of allocating and
freeing the same few tens of megabytes of pixels.

By default glibc serves an allocation over 128 KiB with a fresh `mmap` and gives it back on
free, raising that threshold only as it sees big blocks freed, and trims the heap's free top
past twice the threshold. A worker then takes a page fault for every page of most decodes
and resamples: kernel time spent mapping memory it gave back a moment ago. With blocks of up
to 32 MiB (Pillow's image blocks are 16 MiB) served from the heap and up to 128 MiB of freed
heap kept, most of those faults are gone, and peak RSS is unchanged: what is kept is memory
the worker had already used at its peak.
Bigger allocations (an original's bytes near the 50 MB cap) still come from `mmap`.
"""

from __future__ import annotations

import ctypes
import logging

logger = logging.getLogger(__name__)

# From glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 128 << 20


def keep_freed_memory() -> bool:
    """Apply the settings above; False where the C library has no `mallopt` (musl, macOS),
    which only costs the page faults."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    if not applied:
        logger.debug("mallopt refused the render worker's settings")
    return applied
