"""
glibc's mmap threshold, fixed for the processes that move many assets.

glibc serves a ``malloc`` of at least ``M_MMAP_THRESHOLD`` bytes (128 KiB by default) from its
own memory mapping, returned to the system on ``free``. The threshold is *dynamic*: when such a
block is freed, glibc raises the threshold to its size, so every later block of that size comes
from the heap instead. A DAM listing page of 500 assets is ~450 KB, and the body plus its copies
(join, ``bytes()``, decoding) are each that large: after the first page, every page body landed
in the heap between long-lived small allocations, and the heap kept more and more free memory it
could not give back. A 999,999-asset link backfill peaked at +45 % RSS over a 10,000-asset one;
with the threshold fixed at its default it peaks lower (``python -m bench.rss_growth``,
docs/benchmarks.md).

:func:`fix_mmap_threshold` sets the threshold explicitly, which also turns the dynamic
adjustment off, and sets the trim threshold (free memory at the heap's top above it goes back to
the system) to its default too: the dynamic adjustment doubles that one as well, and a block
freed while the daemon starts (before the fix) had left it raised for the process's life (a
999,999-asset backfill peaked at +15.4 % over 10,000 with the mmap threshold alone). An
operator's own ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES``
setting wins; other C libraries (musl) and other systems are left alone.
"""

from __future__ import annotations

import os
import sys

#: glibc's ``mallopt`` parameter number for the threshold (``malloc.h``: ``M_MMAP_THRESHOLD``).
M_MMAP_THRESHOLD = -3
#: ``M_TRIM_THRESHOLD``: free memory at the heap's top beyond it is given back.
M_TRIM_THRESHOLD = -1

#: The threshold kept: glibc's own default, made fixed.
MMAP_THRESHOLD = 128 * 1024

#: The trim threshold kept: glibc's own default (it moves with the dynamic adjustment).
TRIM_THRESHOLD = 128 * 1024


def fix_mmap_threshold() -> bool:
    """
    Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` for this process, and its trim
    threshold at :data:`TRIM_THRESHOLD` unless the operator set that one
    (``MALLOC_TRIM_THRESHOLD_``, or ``trim_threshold`` in ``GLIBC_TUNABLES``).

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
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ and "trim_threshold" not in tunables:
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


__all__ = [
    "MMAP_THRESHOLD",
    "M_MMAP_THRESHOLD",
    "M_TRIM_THRESHOLD",
    "TRIM_THRESHOLD",
    "fix_mmap_threshold",
]
