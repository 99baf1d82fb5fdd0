"""
A replica's shares: of the sources (:func:`share_target`) and of each PIM's fair-use budget.

Akeneo's fair-use limit is per PIM connection, shared by every writer. Each replica therefore
uses only its share of a PIM's ``http.max_in_flight``: ``max(1, floor(budget / writers))``,
where ``writers`` are the live replicas that own at least one source writing that PIM (this one
included when it owns one, plus one while a source of that PIM is free and may be taken by
another replica before the next heartbeat); alone, the whole budget. The heartbeat
(:mod:`daemon.engine.replica_leases`) recomputes the shares each time it beats: every replica
runs the same configuration, so the lease owners and the configured ``source -> pim`` map say
who writes which PIM. When the sources are not shared out (``spread`` off) every live replica
may write every PIM, so each one counts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from daemon.store.rows import ReplicaView

log = structlog.get_logger(__name__)


def share_target(view: ReplicaView, me: str, sources: int) -> int:
    """
    How many sources replica ``me`` should own: ``ceil(S / n)``, or ``floor(S / n)`` while
    another live replica owns fewer than ``floor(S / n)`` (so that one with none gets some).
    """
    live = len(set(view.live) | {me})
    low, high = sources // live, -(-sources // live)
    short = any(count < low for name, count in view.live.items() if name != me)
    return low if short else high


class CapacityLimiter(Protocol):
    """A limiter whose capacity changes at run time (``daemon.upstream.UpstreamLimiter``)."""

    @property
    def capacity(self) -> int: ...

    def set_capacity(self, capacity: int) -> None: ...


def budget_share(budget: int, writers: int) -> int:
    """A replica's share of ``budget`` among ``writers`` replicas: at least 1, alone all."""
    return max(1, budget // max(1, writers))


class LeaseRow(Protocol):
    """One lease row as the store reads it (``daemon.store.fencing.LeaseStanding``)."""

    @property
    def source(self) -> str: ...

    @property
    def holder(self) -> str | None: ...

    @property
    def state(self) -> str: ...


def pim_writers(
    source_pims: Mapping[str, str],
    rows: Iterable[LeaseRow] | None,
    live: Collection[str],
    me: str,
    mine: Iterable[str],
) -> dict[str, int]:
    """
    How many live replicas write each PIM.

    Args:
        source_pims: The PIM of each configured source.
        rows: The lease rows (who owns which source), or ``None`` when the sources are not
            shared out: then every live replica may write every PIM.
        live: The live replicas.
        me: This replica.
        mine: The sources this replica owns now (it counts for their PIMs even before the
            store shows its leases).

    A PIM with a source nobody holds counts one writer more (at most every live replica):
    another replica may take it before this one's next heartbeat, and the two shares must not
    add up above the budget meanwhile.
    """
    names = set(live) | {me}
    if rows is None:
        return {pim: len(names) for pim in source_pims.values()}
    writers: dict[str, set[str]] = {pim: set() for pim in source_pims.values()}
    held = set(mine)
    for row in rows:
        pim = source_pims.get(row.source)
        if pim is not None and row.holder in names and row.state == "held":
            writers[pim].add(row.holder)
            held.add(row.source)
    for source in mine:
        if source in source_pims:
            writers[source_pims[source]].add(me)
    # A free source (handed back, or its owner dead) may be taken by another replica before
    # this one's next heartbeat: its PIM counts one writer more until then.
    free = {pim for source, pim in source_pims.items() if source not in held}
    return {pim: min(len(names), len(holders) + (pim in free)) for pim, holders in writers.items()}


@dataclass(slots=True)
class PimBudgets:
    """
    The limiters of this replica's PIMs and the share each is set to.

    Args:
        limiters: Each PIM's name and limiter.
        budgets: Each PIM's configured ``http.max_in_flight``.
        source_pims: The PIM each configured source writes to.
        on_share: Told each new share (the ``damsync_pim_requests_in_flight_limit`` gauge).
    """

    limiters: Mapping[str, CapacityLimiter]
    budgets: Mapping[str, int]
    source_pims: Mapping[str, str]
    on_share: Callable[[str, int], None] | None = None
    shares: dict[str, int] = field(default_factory=dict)

    def apply(self, writers: Mapping[str, int]) -> None:
        """Set each PIM's share for ``writers`` replicas; one line per share that changes."""
        for pim, limiter in self.limiters.items():
            budget = self.budgets[pim]
            count = writers.get(pim, 0)
            share = budget_share(budget, count)
            if limiter.capacity != share:  # the limiter's share changes: one line
                log.info(
                    "pim.budget_shared", pim=pim, share=share, replicas=max(1, count), budget=budget
                )
                limiter.set_capacity(share)
            if self.shares.get(pim) != share and self.on_share is not None:
                self.on_share(pim, share)
            self.shares[pim] = share

    def share(
        self,
        rows: Iterable[LeaseRow] | None,
        live: Collection[str],
        me: str,
        mine: Iterable[str],
    ) -> dict[str, int]:
        """:func:`pim_writers`, then :meth:`apply`; returns the writers of each PIM."""
        writers = pim_writers(self.source_pims, rows, live, me, mine)
        self.apply(writers)
        return writers


__all__ = [
    "CapacityLimiter",
    "LeaseRow",
    "PimBudgets",
    "budget_share",
    "pim_writers",
    "share_target",
]
