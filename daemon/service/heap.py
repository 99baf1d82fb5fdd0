"""
glibc's mmap threshold, fixed for the processes that move many assets.

glibc serves a ``malloc`` of at least ``M_MMAP_THRESHOLD`` bytes (128 KiB by default) from its
own memory mapping, returned to the system on ``free``. The threshold is *dynamic*: when such a
block is freed, glibc raises the threshold to its size, so every later block of that size comes
from the heap instead. A DAM listing page of 500 assets is ~450 KB, and the body plus its copies
(join, ``bytes()``, decoding) are each that large: after the first page, every page body landed
in the heap between long-lived small allocations, and the heap kept more and more free memory it
could not give back. A 999,999-asset link backfill peaked at +45 % RSS over a 10,000-asset one;
with the threshold fixed at its default it peaks at +12 % (``python -m bench.rss_growth``,
docs/benchmarks.md).

:func:`fix_mmap_threshold` sets the threshold explicitly, which also turns the dynamic
adjustment off. An operator's own ``MALLOC_MMAP_THRESHOLD_`` or ``GLIBC_TUNABLES`` setting wins;
other C libraries (musl) and other systems are left alone.
"""

from __future__ import annotations

import os
import sys

#: glibc's ``mallopt`` parameter number for the threshold (``malloc.h``: ``M_MMAP_THRESHOLD``).
M_MMAP_THRESHOLD = -3
#: The threshold kept: glibc's own default, made fixed.
MMAP_THRESHOLD = 128 * 1024


def fix_mmap_threshold() -> bool:
    """
    Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` for this process.

    Returns:
        Whether it was set (False: not glibc on Linux, or the operator set it already).
    """
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    if "mmap_threshold" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or getattr(libc, "gnu_get_libc_version", None) is None:
        return False  # not glibc: musl's mallopt does nothing
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


__all__ = ["MMAP_THRESHOLD", "M_MMAP_THRESHOLD", "fix_mmap_threshold"]
