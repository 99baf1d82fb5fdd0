"""
The replica's side of the leases: a heartbeat that renews them and shares the sources out.

Every ``heartbeat`` seconds a running daemon (a *replica*, named by its lease holder
``host:pid:starttime``) announces itself in the store's replicas table and renews every lease
it holds, each with a compare-and-set on its epoch: a lease taken over, released or rewound
under it is never renewed back, but dropped (``sync.lease_lost``), and the job using it is
told to stop; its next write is refused by the fence anyway.

On a shared database (PostgreSQL) with ``spread`` on, the replica also *owns* sources: it keeps
their leases between jobs, and only the sources it owns run here. Each heartbeat counts the
live replicas ``n`` and the ``S`` configured sources: a replica takes free sources up to
``ceil(S / n)``, or only up to ``floor(S / n)`` while another live replica owns fewer than that,
and hands back idle sources above its target. A dead replica's sources are free once their
leases expire (``store.lease_ttl``, database clock): the next heartbeat of a replica below its
target takes them, within ``lease_ttl + heartbeat``.

On SQLite the daemon is single-process: a second live ``damsync run`` on the same file is
refused at start (:class:`SecondProcessError`); a dead one's row is forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import structlog

from daemon.core.errors import CheckpointError
from daemon.engine.leasing import LeaseKeeper, dead_local_holder, lease_keeper
from daemon.engine.replica_share import LeaseRow, PimBudgets, share_target
from daemon.engine.seams import LeaseStore
from daemon.store import Lease
from daemon.store.rows import ReplicaView

log = structlog.get_logger(__name__)

#: ``damsync run``'s exit code when another live process uses the same SQLite database.
EXIT_SECOND_PROCESS = 3

#: Seconds before a failed heartbeat is tried again (doubling, up to the heartbeat).
RETRY_FIRST = 0.5


class SecondProcessError(CheckpointError):
    """
    Another live ``damsync run`` uses this SQLite database: SQLite is single-process.

    Args:
        other: The other process's holder name (``host:pid:starttime``).
    """

    def __init__(self, other: str) -> None:
        self.other = other
        super().__init__(
            f"another damsync run ({other}) uses this SQLite database; SQLite allows one "
            "process: stop it first, or use PostgreSQL (store.url) to run several replicas "
            "(a process of another host or container that is gone is forgotten once its "
            "heartbeat expires, after store.lease_ttl)"
        )


class ReplicaStore(LeaseStore, Protocol):
    """The store calls of the heartbeat (``daemon.store.Store`` implements them)."""

    def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease | None: ...

    def replica_heartbeat(
        self, replica: str, ttl_seconds: float, sources: Sequence[str]
    ) -> ReplicaView: ...

    def other_replicas(self, replica: str) -> list[str]: ...

    def forget_replica(self, replica: str) -> bool: ...

    def lease_standings(self) -> Sequence[LeaseRow]: ...


class OwnershipObserver(Protocol):
    """Where ownership is reported (``daemon.telemetry.ownership_metrics`` implements it)."""

    def lease_renewed(self, source: str) -> None: ...

    def source_owned(self, source: str, owned: bool) -> None: ...

    def lease_lost(self, source: str) -> None: ...

    def replicas_seen(self, live: int) -> None: ...


class SourceOwnership:
    """
    The heartbeat of one replica: renews its leases and, when ``spread``, owns sources.

    Args:
        store: The state store.
        sources: The configured source names (every replica of a database runs the same).
        holder: This replica's lease holder name.
        ttl: Seconds a lease (and a replica's heartbeat row) lives without renewal.
        heartbeat: Seconds between two heartbeats (below ``ttl / 2``).
        spread: Own sources and share them out (only on a shared database).
        observer: Ownership metrics.
        dead_holder: Judges a local holder dead (SQLite's start check).
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        store: ReplicaStore,
        sources: Sequence[str],
        holder: str,
        *,
        ttl: float,
        heartbeat: float,
        spread: bool,
        observer: OwnershipObserver | None = None,
        dead_holder: Callable[[str], bool] = dead_local_holder,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.sources = list(sources)
        self.holder = holder
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.spread = spread and not store.single_host
        self.observer = observer
        self.live = 1
        self.failures = 0
        self._dead_holder = dead_holder
        self._clock = clock
        self._renewed: dict[str, float] = {}
        self._keeper: LeaseKeeper | None = None
        self.budgets: PimBudgets | None = None
        self.writers: dict[str, int] = {}  # live replicas writing each PIM, at the last beat

    @property
    def keeper(self) -> LeaseKeeper:
        if self._keeper is None:
            self._keeper = lease_keeper()
        return self._keeper

    def owned(self) -> list[str]:
        """The sources this replica owns now (every source when they are not shared)."""
        return self.keeper.owned(self.holder) if self.spread else list(self.sources)

    def may_run(self, source: str) -> bool:
        """Whether jobs of ``source`` run here now."""
        return self.keeper.may_run(source, self.holder)

    async def start(self) -> None:
        """
        Announce this replica; on SQLite refuse to run beside another live process.

        Raises:
            SecondProcessError: Another live ``damsync run`` uses this SQLite database.
        """
        self.keeper.spread = self.spread
        await asyncio.to_thread(self.store.replica_heartbeat, self.holder, self.ttl, self.sources)
        if self.store.single_host:
            # Announced first, then looked: of two processes starting at once, neither runs.
            for other in await asyncio.to_thread(self.store.other_replicas, self.holder):
                if not self._dead_holder(other):
                    await asyncio.to_thread(self.store.forget_replica, self.holder)
                    raise SecondProcessError(other)
                await asyncio.to_thread(self.store.forget_replica, other)
                log.warning("runtime.dead_process_forgotten", holder=other)
        if self.observer is not None:  # unshared, this process runs every source
            for source in self.sources:
                self.observer.source_owned(source, not self.spread)

    async def join(self) -> bool:
        """
        :meth:`start`, then the first heartbeat (sources taken before the first passes).

        Returns:
            ``False`` (one error line logged) when this process must not run: another live
            process uses the same SQLite database. A store that cannot be reached is only
            a warning: the heartbeat tries again.
        """
        try:
            await self.start()
            await self.tick()
        except SecondProcessError as exc:
            log.error("runtime.refused_to_start", error=str(exc), exit_code=EXIT_SECOND_PROCESS)
            return False
        except Exception as exc:  # the store is away: the heartbeat tries again soon
            self.failures += 1
            log.warning("sync.heartbeat_failed", error=str(exc), failures=self.failures)
        log.info(
            "runtime.replica_joined",
            holder=self.holder,
            replicas=self.live,
            owned=self.owned(),
            shared=self.spread,
        )
        return True

    async def tick(self) -> list[str]:
        """
        One heartbeat: announce, renew, and (``spread``) take or hand back sources.

        Returns:
            The sources this replica took in this heartbeat (their jobs may start at once).
        """
        view = await asyncio.to_thread(
            self.store.replica_heartbeat, self.holder, self.ttl, self.sources
        )
        self.live = len(view.live)
        if self.observer is not None:
            self.observer.replicas_seen(self.live)
        await self._renew()
        taken = await self._rebalance(view) if self.spread else []
        if self.budgets is not None:  # each PIM's budget shared by the replicas writing it
            shared = self.spread and len(set(view.live) | {self.holder}) > 1
            rows = await asyncio.to_thread(self.store.lease_standings) if shared else None
            self.writers = self.budgets.share(rows, view.live, self.holder, self.owned())
        return taken

    def use_budgets(self, budgets: PimBudgets | None) -> None:
        """Share these PIM limiters (a reload's) from now on, at the last beat's shares."""
        self.budgets = budgets
        if budgets is not None and self.writers:
            budgets.apply(self.writers)

    async def run(self, stop: asyncio.Event, taken: Callable[[str], None]) -> None:
        """
        Heartbeat until ``stop``; ``taken`` is called with each source newly owned.

        A heartbeat that failed is tried again sooner: after :data:`RETRY_FIRST` seconds,
        doubling up to the heartbeat (a replica whose first heartbeat failed must not wait a
        whole heartbeat, a third of the lease, before it owns anything).
        """
        retry = RETRY_FIRST if self.failures else self.heartbeat
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(retry, self.heartbeat))
            if stop.is_set():
                return
            try:
                for source in await self.tick():
                    taken(source)
            except Exception as exc:  # the store is away: the leases expire unless it returns
                self.failures += 1
                log.warning("sync.heartbeat_failed", error=str(exc), failures=self.failures)
                retry = RETRY_FIRST * 2 ** min(self.failures - 1, 10)
            else:
                self.failures, retry = 0, self.heartbeat

    async def _renew(self) -> None:
        keeper = self.keeper
        held = [(key, lease, True) for key, lease in keeper.kept.items()]
        held += [(key, lease, False) for key, lease in keeper.active.items()]
        for key, lease, kept in held:
            if key[1] != self.holder:
                continue
            try:
                renewed = await asyncio.to_thread(self.store.renew_lease, lease, self.ttl)
            except Exception as exc:  # unknown: keep it while it cannot have expired yet
                last = self._renewed.get(lease.source, self._clock())
                if self._clock() - last < self.ttl:
                    continue
                log.warning("sync.lease_unrenewed", source=lease.source, error=str(exc))
                renewed = None
            if renewed is None:
                self._lose(key, lease, kept)
                continue
            where = keeper.kept if kept else keeper.active
            current = where.get(key)
            if current is None or current.epoch != lease.epoch:
                continue  # its job ended meanwhile and released it
            where[key] = renewed
            self._renewed[lease.source] = self._clock()
            if self.observer is not None and kept:  # a job's lease ends with the job
                self.observer.lease_renewed(lease.source)

    def _lose(self, key: tuple[str, str], lease: Lease, kept: bool) -> None:
        keeper = self.keeper
        (keeper.kept if kept else keeper.active).pop(key, None)
        self._renewed.pop(lease.source, None)
        for event in keeper.lost.get(key, ()):
            event.set()
        log.warning(
            "sync.lease_lost",
            source=lease.source,
            epoch=lease.epoch,
            note="taken over, released or rewound since: its jobs stop, their writes are refused",
        )
        if self.observer is not None:
            self.observer.lease_lost(lease.source)
            self.observer.source_owned(lease.source, False)

    async def _rebalance(self, view: ReplicaView) -> list[str]:
        keeper = self.keeper
        mine = keeper.owned(self.holder)
        target = share_target(view, self.holder, len(self.sources))
        gone = [s for s in mine if s not in self.sources]  # no longer configured
        # Busy sources first: the idle ones above the target are handed back.
        kept = sorted((s for s in mine if s in self.sources), key=self._idle)
        excess = kept[target:]
        for source in gone + excess:
            await self._hand_back(source)
        taken: list[str] = []
        free = [s for s in self.sources if s not in view.taken and s not in mine]
        free.sort(key=lambda s: hashlib.sha256(f"{self.holder}/{s}".encode()).digest())
        for source in free:
            if len(keeper.owned(self.holder)) >= target:
                break
            if await self._take(source):
                taken.append(source)
        return taken

    def _idle(self, source: str) -> bool:
        return not self.keeper.lock(source, self.holder).locked()

    async def _take(self, source: str) -> bool:
        lock = self.keeper.lock(source, self.holder)
        if lock.locked():  # a job of this process runs it under its own lease
            return False
        async with lock:
            lease = await asyncio.to_thread(self.store.acquire_lease, source, self.holder, self.ttl)
            if lease is None:
                return False
            self.keeper.kept[(source, self.holder)] = lease
        self._renewed[source] = self._clock()
        log.info("sync.source_owned", source=source, epoch=lease.epoch, replicas=self.live)
        if self.observer is not None:
            self.observer.source_owned(source, True)
            self.observer.lease_renewed(source)
        return True

    async def _hand_back(self, source: str, *, wait: float = 0.0) -> None:
        """Release a kept lease; a busy source waits ``wait`` seconds (0: next heartbeat)."""
        key = (source, self.holder)
        lock = self.keeper.lock(source, self.holder)
        if lock.locked() and wait <= 0:
            return
        acquired = False
        with contextlib.suppress(TimeoutError):
            acquired = await asyncio.wait_for(lock.acquire(), max(wait, 0.001))
        try:
            lease = self.keeper.kept.pop(key, None)
            if lease is None:
                return
            self._renewed.pop(source, None)
            if self.observer is not None:
                self.observer.source_owned(source, False)
            released = await asyncio.to_thread(self.store.release_lease, lease)
            log.info("sync.source_released", source=source, epoch=lease.epoch, ok=released)
        finally:
            if acquired:
                lock.release()

    async def leave(self, wait: float = 1.0) -> None:
        """On shutdown: hand back every owned source and forget this replica's row."""
        for source in self.keeper.owned(self.holder):
            try:
                await self._hand_back(source, wait=wait)
            except Exception as exc:  # the lease expires anyway, and its epoch fences it
                log.error("sync.lease_not_released", source=source, error=str(exc))
        try:
            await asyncio.to_thread(self.store.forget_replica, self.holder)
        except Exception as exc:  # its row expires with the next heartbeat of another replica
            log.warning("runtime.replica_not_forgotten", error=str(exc))

    @contextlib.contextmanager
    def job_stop(self, source: str, stop: asyncio.Event) -> Iterator[asyncio.Event]:
        """
        An event set on ``stop`` or when the source's lease is found lost: what a job of
        ``source`` watches, so that a replica that lost a source stops writing it at once.
        """
        event = asyncio.Event()
        key = (source, self.holder)
        self.keeper.lost.setdefault(key, set()).add(event)
        relay = asyncio.ensure_future(stop.wait())
        relay.add_done_callback(lambda _: event.set())
        if stop.is_set():
            event.set()
        try:
            yield event
        finally:
            relay.cancel()
            self.keeper.lost.get(key, set()).discard(event)


__all__ = [
    "EXIT_SECOND_PROCESS",
    "OwnershipObserver",
    "ReplicaStore",
    "SecondProcessError",
    "SourceOwnership",
    "share_target",
]
