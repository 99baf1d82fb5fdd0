"""
The per-source lease: taken before any write, released after, taken over from a dead local holder.

Every job that writes (a pass, the retry of due failures, the reconcile sweep, the inbox
consumer) runs inside :func:`leased`, so the acquire/release dance exists once. The lease's
epoch fences the checkpoint and every row of a batch commit: a holder that lost its lease can
never write again. A replica that owns a source (:mod:`daemon.engine.replica_leases`) keeps its
lease between jobs in the event loop's :class:`LeaseKeeper`; its jobs use that lease, and the
replica's heartbeat renews it, as it renews the lease of any job running meanwhile.

A holder is named ``host:pid:starttime``, the start time being the process's in clock ticks since
boot (field 22 of ``/proc/<pid>/stat``): a pid the kernel has given to a newer process (or a
container's pid 1 after a restart) is then not taken for the process that left the lease.
Holders written by older versions (``host:pid``) are still read and judged by their pid alone,
as those versions did. Only a store whose holders all run on this host (SQLite) takes a dead
holder's lease over at once; elsewhere a lease is only taken over on expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import socket
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from daemon.engine.seams import LeaseStore
from daemon.store import HeldLease, Lease

log = structlog.get_logger(__name__)

_HOLDER = re.compile(r"(?P<host>[^:]+):(?P<pid>[0-9]+)(?::(?P<started>[0-9]+))?")

#: Process states of ``/proc/<pid>/stat`` that can never write again (zombie, dead).
_GONE_STATES = frozenset({"Z", "X"})


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """
    The state and start time (clock ticks since boot) of process ``pid``, from ``/proc``.

    Returns:
        ``None`` when ``/proc`` does not show the process (gone, hidden, or no ``/proc``).
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces and ")": split after it.
    fields = text.rpartition(")")[2].split()
    if len(fields) < 20 or not fields[19].isdecimal():
        return None
    return fields[0], int(fields[19])  # fields 3 (state) and 22 (starttime)


def _pid_exists(pid: int) -> bool:
    """Whether the kernel knows ``pid`` (any user's); an impossible pid counts as existing."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process; or no pid at all, which nobody should judge dead
    return True


def process_holder() -> str:
    """This process's lease holder name: ``host:pid:starttime`` (``host:pid`` without /proc)."""
    host, pid = socket.gethostname(), os.getpid()
    stat = _proc_stat(pid)
    if stat is None:
        return f"{host}:{pid}"
    return f"{host}:{pid}:{stat[1]}"


def parse_holder(holder: str) -> tuple[str, int, int | None] | None:
    """
    Read a holder name: ``host:pid:starttime``, or ``host:pid`` as older versions wrote it.

    Returns:
        ``(host, pid, starttime)``, starttime ``None`` for the older format; ``None`` for
        anything else (such a holder is never judged dead).
    """
    match = _HOLDER.fullmatch(holder)
    if match is None:
        return None
    started = match["started"]
    return match["host"], int(match["pid"]), int(started) if started is not None else None


def dead_local_holder(holder: str) -> bool:
    """
    Whether a lease holder is a process of this host that no longer runs.

    Only our own host can be checked; a holder elsewhere is never presumed dead (its lease
    expires on the database clock instead). A holder's pid running with another start time is
    another process: the holder is dead. When nothing can tell (``/proc`` hides the pid but the
    kernel knows it), the holder is presumed alive.
    """
    parsed = parse_holder(holder)
    if parsed is None or parsed[0] != socket.gethostname():
        return False
    _host, pid, started = parsed
    if started is None:  # an older version's holder: judged as it judged it, by the pid alone
        return pid != os.getpid() and not _pid_exists(pid)
    stat = _proc_stat(pid)
    if stat is None:
        return not _pid_exists(pid)
    state, running_since = stat
    return state in _GONE_STATES or running_since != started


def busy_reason(held: HeldLease | None) -> str:
    """The one line a skipped job reports: who holds the lease, and until when (UTC)."""
    if held is None:  # released between the refused acquisition and the read
        return "another process held this source's lease (released since)"
    return f"lease held by {held.holder} until {held.expires_at:%Y-%m-%dT%H:%M:%SZ}"


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
    incarnation's lease to expire (``store.lease_ttl``). Only a store whose holders all run on
    this host is asked (:attr:`LeaseStore.single_host`): on a shared database, another host's
    holder could carry our host name and a pid that is dead here.
    """
    lease = await asyncio.to_thread(store.acquire_lease, source, holder, ttl)
    if lease is not None or dead_holder is None or not store.single_host:
        return lease
    current = await asyncio.to_thread(store.lease_held, source)
    if current is None or not dead_holder(current.holder):
        return None
    log.warning(
        "sync.lease_taken_over",
        source=source,
        dead_holder=current.holder,
        expires_at=current.expires_at.isoformat(),
    )
    return await asyncio.to_thread(
        functools.partial(store.acquire_lease, source, holder, ttl, takeover=current.holder)
    )


@dataclass(slots=True)
class LeaseKeeper:
    """
    The leases of the jobs of one event loop, by ``(source, holder)``.

    Args:
        locks: One job at a time per source and holder (see :func:`leased`).
        active: Leases taken by a running job, released when it ends.
        kept: Leases this replica owns: kept between jobs, used by every job of the source,
            renewed by its heartbeat (:mod:`daemon.engine.replica_leases`).
        lost: Set when a lease of a running job is found lost, so that the job stops early.
        spread: Whether jobs run only for the sources kept here (several replicas share the
            sources); otherwise every source runs, taking its lease for each job.
    """

    locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    active: dict[tuple[str, str], Lease] = field(default_factory=dict)
    kept: dict[tuple[str, str], Lease] = field(default_factory=dict)
    lost: dict[tuple[str, str], set[asyncio.Event]] = field(default_factory=dict)
    spread: bool = False

    def lock(self, source: str, holder: str) -> asyncio.Lock:
        return self.locks.setdefault((source, holder), asyncio.Lock())

    def may_run(self, source: str, holder: str) -> bool:
        """Whether a job of ``source`` should run here now (always, unless sources are shared)."""
        return not self.spread or (source, holder) in self.kept

    def owned(self, holder: str) -> list[str]:
        """The sources ``holder`` keeps, sorted."""
        return sorted(source for source, who in self.kept if who == holder)


#: The keeper of each event loop (a loop is one process's daemon, or one test).
_KEEPERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LeaseKeeper]
_KEEPERS = weakref.WeakKeyDictionary()


def lease_keeper() -> LeaseKeeper:
    """The running event loop's :class:`LeaseKeeper`."""
    loop = asyncio.get_running_loop()
    keeper = _KEEPERS.get(loop)
    if keeper is None:
        keeper = _KEEPERS[loop] = LeaseKeeper()
    return keeper


@contextlib.asynccontextmanager
async def leased(
    store: LeaseStore,
    source: str,
    holder: str,
    ttl: float,
    dead_holder: Callable[[str], bool] | None = dead_local_holder,
    *,
    wait: bool = False,
) -> AsyncIterator[Lease | None]:
    """
    Hold ``source``'s lease for the body; yields ``None`` when another holder has it.

    A lease this replica keeps between jobs (it owns the source) is yielded as it is and stays
    kept. Otherwise the lease is taken for the body and released however the body ends (its
    epoch is bumped, so it can never write again); releasing is shielded from cancellation: a
    shutdown past its grace still frees the source for the next process instead of leaving it
    blocked until the lease expires. While the body runs, the replica's heartbeat renews it.

    The jobs of one process (a pass, the retry, the reconcile, the inbox consumer) share one
    holder name, and the store renews a lease for the holder that has it: two of them would
    hold the same lease, and the first to finish would release it under the other. A local
    lock per source and holder keeps them apart: with ``wait`` (a pass) the job waits for the
    one in progress; without it, it gets ``None`` at once, as for another holder.
    """
    keeper = lease_keeper()
    key = (source, holder)
    lock = keeper.lock(source, holder)
    if not wait and lock.locked():
        yield None
        return
    async with lock:
        kept = keeper.kept.get(key)
        if kept is not None:
            yield kept
            return
        lease = await acquire_lease(store, source, holder, ttl, dead_holder)
        if lease is not None:
            keeper.active[key] = lease
        try:
            yield lease
        finally:
            if lease is not None:
                held = keeper.active.pop(key, lease)
                try:
                    await asyncio.shield(asyncio.to_thread(store.release_lease, held))
                except Exception as exc:  # the lease expires anyway, and its epoch fences it
                    log.error("sync.lease_not_released", source=source, error=str(exc))


__all__ = [
    "LeaseKeeper",
    "acquire_lease",
    "busy_reason",
    "dead_local_holder",
    "lease_keeper",
    "leased",
    "parse_holder",
    "process_holder",
]
