"""
The per-source lease: taken before any write, released after, taken over from a dead local holder.

Every job that writes (a pass, the retry of due failures, the reconcile sweep) runs inside
:func:`leased`, so the acquire/release dance exists once. The lease's epoch fences every
checkpoint and state write in the store: a holder that lost its lease can never write again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
from collections.abc import AsyncIterator, Callable

import structlog

from daemon.engine.seams import LeaseStore
from daemon.store import Lease

log = structlog.get_logger(__name__)


def process_holder() -> str:
    """This process's lease holder name: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_local_holder(holder: str) -> bool:
    """
    Whether a lease holder (``host:pid``) is a process of this host that no longer runs.

    Only our own host can be checked; a holder elsewhere is never presumed dead (its lease
    expires on the database clock instead).
    """
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


async def acquire_lease(
    store: LeaseStore,
    source: str,
    holder: str,
    ttl: float,
    dead_holder: Callable[[str], bool] | None = None,
) -> Lease | None:
    """
    Take the source's lease; a lease left by a dead local process is taken over at once.

    Without the takeover, a daemon restarted after a crash would wait for its own previous
    incarnation's lease to expire (``store.lease_ttl``).
    """
    lease = await asyncio.to_thread(store.acquire_lease, source, holder, ttl)
    if lease is not None or dead_holder is None:
        return lease
    current = await asyncio.to_thread(store.lease_holder, source)
    if current is None or not dead_holder(current):
        return None
    log.warning("sync.lease_taken_over", source=source, dead_holder=current)
    return await asyncio.to_thread(
        functools.partial(store.acquire_lease, source, holder, ttl, takeover=current)
    )


@contextlib.asynccontextmanager
async def leased(
    store: LeaseStore,
    source: str,
    holder: str,
    ttl: float,
    dead_holder: Callable[[str], bool] | None = dead_local_holder,
) -> AsyncIterator[Lease | None]:
    """
    Hold ``source``'s lease for the body; yields ``None`` when another holder has it.

    The lease is released however the body ends (its epoch is bumped, so it can never write
    again). Releasing is shielded from cancellation: a shutdown past its grace still frees the
    source for the next process instead of leaving it blocked until the lease expires.
    """
    lease = await acquire_lease(store, source, holder, ttl, dead_holder)
    try:
        yield lease
    finally:
        if lease is not None:
            try:
                await asyncio.shield(asyncio.to_thread(store.release_lease, lease))
            except Exception as exc:  # the lease expires anyway, and its epoch fences it
                log.error("sync.lease_not_released", source=source, error=str(exc))


__all__ = ["acquire_lease", "dead_local_holder", "leased", "process_holder"]
