"""
Which source owns each PIM asset, what became of the ones damsync withdrew, and the deletions
the mass-deletion brake holds for an operator.

``pim_owners`` has one row per PIM asset damsync wrote, keyed ``(pim, family, code)``: ``pim``
is the PIM's configured name, so one DAM written by two sources into two PIMs owns the same
codes once in each. A source *claims* a key before its PIM write
(:meth:`OwnershipAccess.prepare_batch`): a key another source holds in the same PIM is refused,
so two sources never overwrite each other. A withdrawn asset (its DAM asset deleted, re-keyed or
no longer matched) keeps its row with the ``action`` taken and its ``reason``, written in the
batch commit (:func:`record_withdrawn`), so the state knows every PIM asset damsync leaves
behind. A deleted asset's key is free again for any source of that PIM.

A store reads and writes ownership in one PIM, :data:`DEFAULT_PIM` unless it is the view
:meth:`OwnershipAccess.for_pim` returns: the wiring hands each source the view of its PIM, so
the engine never names a PIM to the store (a source writes one PIM).
"""

from __future__ import annotations

import copy
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Self

from sqlalchemy import Connection, Select, bindparam, delete, func, select, update

from daemon.store import batch_prepare
from daemon.store.batch_commit import chunks, upsert
from daemon.store.batch_prepare import Key
from daemon.store.driver_in import driver_in
from daemon.store.session_boundary import SessionBoundary
from daemon.store.statements import ids_param
from daemon.store.tables import MAX_PIM_NAME, pending_deletions, pim_owners

#: The PIM ``[pim]`` configures (``daemon.settings.connections.DEFAULT_PIM``, not imported: the
#: store loads no settings), and the one of every row migration 0011 found.
DEFAULT_PIM = "default"

#: What was done to a withdrawn PIM asset (``pending``: held by the brake; ``kept``: rejected).
OwnerAction = Literal["deleted", "marked", "unlinked", "ignored", "pending", "kept"]
#: Why it was withdrawn.
WithdrawalReason = Literal["tombstone", "rekeyed", "unmatched"]
#: Actions the brake counts: they change or remove the PIM asset.
ACTING = ("deleted", "marked", "unlinked")


@dataclass(frozen=True, slots=True)
class WithdrawnAsset:
    """
    One PIM asset a batch withdrew, as the engine reports it to the batch commit.

    Args:
        dam_id: The DAM asset it belonged to.
        family: Its family.
        code: Its code.
        reason: Why it left (the DAM deleted it, it was re-keyed, no rule matches any more).
        action: What was done (``pending`` when the brake held it).
        policy: The source's policy (applied on approval of a pending one).
        pim: The PIM it is in (its configured name): the source's.
    """

    dam_id: str
    family: str
    code: str
    reason: WithdrawalReason
    action: OwnerAction
    policy: str
    pim: str


@dataclass(frozen=True, slots=True)
class OwnedAsset:
    """A row of ``pim_owners``: a PIM asset, its owner, and what became of it (``None``: live)."""

    family: str
    code: str
    source: str
    dam_id: str
    action: OwnerAction | None
    reason: WithdrawalReason | None
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class PendingDeletion:
    """A withdrawal the brake holds until an operator approves or rejects it (in ``pim``)."""

    id: int
    source: str
    family: str
    code: str
    dam_id: str
    reason: WithdrawalReason
    policy: str
    requested_at: datetime
    pim: str


@dataclass(frozen=True, slots=True)
class BrakeFigures:
    """
    One family of one source, as the brake sees it.

    Args:
        live: PIM assets the source keeps live in it.
        recent: Assets withdrawn (deleted, marked, unlinked) within the burst window.
        pending: Withdrawals already held for an operator.
    """

    live: int = 0
    recent: int = 0
    pending: int = 0


class OwnershipAccess(SessionBoundary):
    """
    Claims of PIM keys, the withdrawn assets, and the pending deletions of every source.

    Keys are claimed and read in the store's PIM (:attr:`pim`); held deletions are listed and
    settled by source, each in the PIM it was held in.
    """

    #: The PIM this store claims and reads keys in (a view of another: :meth:`for_pim`).
    _pim: str = DEFAULT_PIM

    @property
    def pim(self) -> str:
        """The configured name of the PIM whose ownership this store reads and writes."""
        return self._pim

    def for_pim(self, pim: str) -> Self:
        """
        This store as the sources writing the PIM named ``pim`` see it: their key claims, live
        keys, brake figures and owned assets are that PIM's. Everything else is shared (the
        same engine and clock; rows of other tables are keyed by source).
        """
        if not pim or len(pim) > MAX_PIM_NAME:
            raise ValueError(f"PIM name {pim!r}: 1 to {MAX_PIM_NAME} characters")
        if pim == self._pim:
            return self  # the store itself: one object per PIM in the common single-PIM case
        view = copy.copy(self)
        view._pim = pim
        return view

    def prepare_batch(
        self, source: str, claims: Sequence[Key], intents: Sequence[Key]
    ) -> dict[tuple[str, str], str]:
        """
        Before a batch's PIM write, in ONE transaction: claim its keys ``(dam_id, family,
        code)`` in this store's PIM and note the intents of its new assets (those whose key is
        not refused; :mod:`daemon.store.batch_prepare`).

        Returns:
            The refused keys ``(family, code)``, with the source owning each in this PIM.
        """
        if not claims and not intents:
            return {}
        with self._write("prepare_batch") as session:
            return batch_prepare.prepare_batch(
                session, source, self._pim, claims, intents, self._clock()
            )

    def claim_keys(self, source: str, claims: Sequence[Key]) -> dict[tuple[str, str], str]:
        """
        Claim ``(dam_id, family, code)`` keys for ``source`` in this store's PIM, before
        writing them to it.

        A key that is free, deleted or already this source's is taken (a held deletion of it is
        dropped: the asset is live again). Returns the keys refused, with the source owning each.
        """
        if not claims:
            return {}
        with self._write("claim_keys") as session:
            return batch_prepare.claim_keys(session, source, self._pim, claims, self._clock())

    def live_keys(self, source: str, dam_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """
        The keys ``source`` holds live in this store's PIM (claimed, never withdrawn) for each
        of ``dam_ids``.

        A crash between a PIM write and its batch commit leaves a claimed key the asset state
        never heard of (a re-key's new code, written or not): this is where it is found again.
        """
        found: dict[str, list[tuple[str, str]]] = defaultdict(list)
        with self._read("live_keys") as session:
            live = driver_in(session, "live_keys", _live_keys)
            for part in chunks(sorted(set(dam_ids))):
                # Sorted here, not in SQL: an ORDER BY family, code would make SQLite walk the
                # index giving that order (all of the PIM's rows) instead of (source, dam_id).
                params = {"source": source, "pim": self._pim, "ids": list(part)}
                for dam_id, family, code in live.run(session, params):
                    found[dam_id].append((family, code))
        return {dam_id: sorted(keys) for dam_id, keys in found.items()}

    def brake_figures(
        self, source: str, families: Iterable[str], window_seconds: float
    ) -> dict[str, BrakeFigures]:
        """What the brake weighs per family of this store's PIM: live, recent, held ones."""
        wanted = sorted(set(families))
        since = self._clock() - timedelta(seconds=window_seconds)
        counts: dict[str, dict[str, int]] = {f: {} for f in wanted}
        owners = pim_owners.c
        with self._read("brake_figures") as session:
            queries: list[tuple[str, Any]] = [
                ("live", select(owners.family, func.count()).where(owners.action.is_(None))),
                (
                    "recent",
                    select(owners.family, func.count()).where(
                        owners.action.in_(ACTING), owners.changed_at >= since
                    ),
                ),
            ]
            for name, query in queries:
                query = query.where(
                    owners.source == source, owners.pim == self._pim, owners.family.in_(wanted)
                )
                for family, n in session.execute(query.group_by(owners.family)):
                    counts[family][name] = n
            held = (
                select(pending_deletions.c.family, func.count())
                .where(
                    pending_deletions.c.source == source,
                    pending_deletions.c.pim == self._pim,
                    pending_deletions.c.family.in_(wanted),
                )
                .group_by(pending_deletions.c.family)
            )
            for family, n in session.execute(held):
                counts[family]["pending"] = n
        return {f: BrakeFigures(**c) for f, c in counts.items()}

    def owned_assets(self, source: str) -> list[OwnedAsset]:
        """Every asset of this store's PIM ``source`` owns or withdrew, by family and code."""
        with self._read("owned_assets") as session:
            # Sorted here: in SQL, the order would make SQLite read all of the PIM's rows.
            rows = session.execute(
                select(pim_owners).where(
                    pim_owners.c.source == source, pim_owners.c.pim == self._pim
                )
            )
            owned = [
                OwnedAsset(r.family, r.code, r.source, r.dam_id, r.action, r.reason, r.changed_at)
                for r in rows
            ]
        return sorted(owned, key=lambda o: (o.family, o.code))

    def pending_deletions(self, source: str | None = None) -> list[PendingDeletion]:
        """The deletions the brake holds (in any PIM), oldest first; of one source if given."""
        query = select(pending_deletions).order_by(pending_deletions.c.id)
        if source is not None:
            query = query.where(pending_deletions.c.source == source)
        with self._read("pending_deletions") as session:
            return [
                PendingDeletion(
                    r.id,
                    r.source,
                    r.family,
                    r.code,
                    r.dam_id,
                    r.reason,
                    r.policy,
                    r.requested_at,
                    r.pim,
                )
                for r in session.execute(query)
            ]

    def pending_counts(self) -> dict[str, int]:
        """Held deletions per source (sources without any are absent)."""
        query = select(pending_deletions.c.source, func.count()).group_by(
            pending_deletions.c.source
        )
        with self._read("pending_counts") as session:
            return {source: n for source, n in session.execute(query)}

    def settle_pending(self, source: str, outcomes: Sequence[tuple[int, OwnerAction]]) -> int:
        """
        Resolve held deletions of ``source``: ``(id, action)`` is what was done (``kept`` when
        rejected), recorded on the owner row in the PIM each was held in. Returns how many were
        still held (an id settled twice counts once).
        """
        settled = 0
        with self._write("settle_pending") as session:
            for pending_id, action in outcomes:
                row = session.execute(
                    delete(pending_deletions)
                    .where(
                        pending_deletions.c.id == pending_id, pending_deletions.c.source == source
                    )
                    .returning(
                        pending_deletions.c.pim,
                        pending_deletions.c.family,
                        pending_deletions.c.code,
                    )
                ).first()
                if row is None:
                    continue
                settled += 1
                session.execute(
                    update(pim_owners)
                    .where(
                        pim_owners.c.pim == row.pim,
                        pim_owners.c.family == row.family,
                        pim_owners.c.code == row.code,
                        pim_owners.c.source == source,
                        pim_owners.c.action == "pending",
                    )
                    .values(action=action, changed_at=self._clock())
                )
        return settled


@functools.cache
def _live_keys() -> Select[Any]:
    """A source's live keys in one PIM for a list of DAM ids (built once)."""
    owners = pim_owners.c
    return select(owners.dam_id, owners.family, owners.code).where(
        owners.source == bindparam("source"),
        owners.dam_id.in_(ids_param()),
        owners.pim == bindparam("pim"),
        owners.action.is_(None),
    )


def record_withdrawn(
    session: Connection, source: str, withdrawn: Sequence[WithdrawnAsset], now: datetime
) -> None:
    """
    Record withdrawn PIM assets inside the batch commit: the owner row's action and reason,
    and a held one's pending row, each in the PIM the asset is in. A key another DAM asset has
    claimed since is left alone.
    """
    for item in withdrawn:
        values = {"action": item.action, "reason": item.reason, "changed_at": now}
        stmt = upsert(session, pim_owners)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[pim_owners.c.pim, pim_owners.c.family, pim_owners.c.code],
                set_=values,
                where=(pim_owners.c.source == source) & (pim_owners.c.dam_id == item.dam_id),
            ),
            [
                {
                    "pim": item.pim,
                    "family": item.family,
                    "code": item.code,
                    "source": source,
                    "dam_id": item.dam_id,
                }
                | values
            ],
        )
        if item.action == "pending":
            held = upsert(session, pending_deletions)
            session.execute(
                held.on_conflict_do_nothing(
                    index_elements=[
                        pending_deletions.c.pim,
                        pending_deletions.c.family,
                        pending_deletions.c.code,
                    ]
                ),
                [
                    {
                        "source": source,
                        "pim": item.pim,
                        "family": item.family,
                        "code": item.code,
                        "dam_id": item.dam_id,
                        "reason": item.reason,
                        "policy": item.policy,
                        "requested_at": now,
                    }
                ],
            )


__all__ = [
    "ACTING",
    "DEFAULT_PIM",
    "BrakeFigures",
    "OwnedAsset",
    "OwnerAction",
    "OwnershipAccess",
    "PendingDeletion",
    "WithdrawalReason",
    "WithdrawnAsset",
    "record_withdrawn",
]
