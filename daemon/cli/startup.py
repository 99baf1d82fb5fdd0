"""
How a ``damsync`` process spends less of its start-up and exit in the cyclic garbage collector.

A store-reading command is short, and most of its time is start-up: importing pydantic and
SQLAlchemy and building the configuration's models allocates a few hundred thousand objects
(modules, classes, functions, schemas) that live as long as the process. The collector
traverses them again and again while they are made (about 150 collections for ``damsync
status``, one of them full), and all of them once more when the interpreter exits, to free
memory the operating system takes back anyway. On the 2-core machine ``bench/startup.py`` ran
on, that was about a quarter of the command's CPU time.

So, in a process started as ``damsync`` (or ``python -m daemon``):

- :func:`loading` pauses the collector while a command imports its libraries and loads its
  configuration or opens its store, then *freezes* what exists (:func:`gc.freeze`: the objects
  move to the collector's permanent generation, which it never traverses) and resumes it. Only
  that bounded window runs without collection; the command's own work, the daemon's included,
  runs with the collector on. What the window left as cyclic garbage (little: a few schema
  builders' leftovers) stays allocated until the exit.
- at exit, what is still tracked is frozen too (an ``atexit`` handler, run before the
  interpreter's final collection), so the exit does not traverse it either. Files and log
  handlers are still flushed and closed (by ``atexit`` and reference counting, as before); only
  objects in reference cycles skip their finalizers, which CPython never promised at exit.

and the first generation's threshold is raised (10,000 allocations instead of 700), so a pass's
short-lived containers, which reference counting already frees, are not traversed for nothing.

:func:`arm` turns these on; :class:`daemon.cli.main.LazyGroup` calls it only when it parses the
process's own command line. A command invoked in-process (click's ``CliRunner``, the test suite)
leaves the collector alone: freezing a long test session's objects would keep its garbage.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

_armed = False


def arm() -> None:
    """This process is one ``damsync`` command: :func:`loading` takes effect, the exit skips GC."""
    global _armed
    if not _armed:
        _armed = True
        atexit.register(gc.freeze)
        # A pass allocates and frees many short-lived containers (pages, mapped values, bodies)
        # that reference counting frees at once: with the default threshold (700) the collector
        # ran ~150 times per 1,000 assets for nothing (0.45 s of a 10,000-asset pass). A larger
        # first generation keeps collecting real cycles, 14 times less often.
        gc.set_threshold(10_000, 20, 20)


def fixed_heap() -> bool:
    """
    In an armed process: glibc's mmap and trim thresholds fixed (:mod:`daemon.service.heap`), so
    a long pass's page-sized buffers do not fragment the heap. :class:`daemon.cli.main.LazyGroup`
    calls it for the commands that move many assets, before it imports their modules: a block
    freed while they import would already have moved glibc's dynamic thresholds.

    Returns:
        Whether the thresholds were set.
    """
    if not _armed:
        return False
    from daemon.service.heap import fix_mmap_threshold

    return fix_mmap_threshold()


def armed() -> bool:
    """Whether :func:`arm` was called in this process."""
    return _armed


@contextmanager
def loading() -> Iterator[None]:
    """
    Around a command's heavy imports and loading: the collector paused, then what was made frozen.

    Does nothing unless :func:`arm` was called, or when the collector is already off.
    """
    if not _armed or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


__all__ = ["arm", "armed", "fixed_heap", "loading"]
