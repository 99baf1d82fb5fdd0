"""
Withdrawals: what happens to a PIM asset damsync stops keeping live, the same on every path.

A PIM asset is *withdrawn* when its DAM asset is deleted (a change-feed tombstone, or a hard
delete the reconcile sweep sends as one), when its DAM asset gets another PIM key (a code
template change, a family move: the new asset is written first, then the old one withdrawn), or
when no rule matches its DAM asset any more. The source's ``delete_policy`` decides:

- ``delete``: the PIM asset is taken out of the product collections damsync put it in, then
  deleted;
- ``mark``: the configured attribute values are set on it (an end-of-use date, a status);
- ``unlink``: left in place, taken out of every product asset collection damsync put it in
  (:mod:`.product_links`; codes damsync did not add stay), and marked when mark values are set;
- ``ignore`` (the default): nothing changes in the PIM; a warning is logged per withdrawal.

Every withdrawal is recorded in the state (``pim_owners``: action and reason), so nothing is
orphaned. The brake (:func:`brake_trips`) holds withdrawals that would remove too much of a
family in one burst: they wait in the pending table for ``damsync deletions approve|reject``.
Ownership: a source claims each key before its PIM write; a key another source owns in the same
PIM fails that asset alone, naming both sources (the same key in another PIM is another asset).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from daemon.core.errors import PermanentError, PimNotFound, SyncError
from daemon.core.records import AssetFamily, Channel, DamAsset, PimAsset, PimValue
from daemon.engine.outcomes import UPSTREAM_WIDE, DeletePolicy, failure_of
from daemon.engine.product_links import ProductLinks
from daemon.engine.seams import BatchStore, PimWriter
from daemon.engine.structure_cache import StructureCache
from daemon.store import (
    AssetState,
    AssetWrite,
    BrakeFigures,
    FailureRecord,
    OwnerAction,
    WithdrawalReason,
    WithdrawnAsset,
)
from daemon.store.ownership import DEFAULT_PIM

if TYPE_CHECKING:
    from daemon.engine.batch_writer import BatchProcessor

log = structlog.get_logger(__name__)

#: What each policy records for the PIM asset it was applied to.
ACTION_OF: dict[DeletePolicy, OwnerAction] = {
    "delete": "deleted",
    "mark": "marked",
    "unlink": "unlinked",
    "ignore": "ignored",
}

_ACTIONS: dict[str, OwnerAction] = {k: v for k, v in ACTION_OF.items()}

#: Policies that take a withdrawn asset out of the product collections damsync put it in.
UNLINKING = ("unlink", "delete")

MarkValue = str | bool | int | float


class OwnershipConflict(SyncError, PermanentError):
    """A source produced a PIM asset another source owns in the same PIM; names both sources."""

    def __init__(self, *, family: str, code: str, owner: str, source: str) -> None:
        super().__init__(
            f"PIM asset {family}/{code} belongs to source {owner!r}; source {source!r} "
            "produced the same family and code: change one source's code template or rules"
        )


class MarkRefused(SyncError, PermanentError):
    """The PIM refused the mark values of a withdrawn asset."""


@dataclass(frozen=True, slots=True)
class WithdrawalOptions:
    """
    A source's deletion policy and brake, from its ``[sources.sync]`` section.

    Args:
        policy: What a withdrawn PIM asset gets.
        mark: Attribute -> value set by ``mark`` and ``unlink``.
        max_share: The brake holds withdrawals above this share of a family's assets...
        max_count: ...or above this number of them...
        burst_window: ...added up over this many seconds.
    """

    policy: DeletePolicy = "ignore"
    mark: Mapping[str, MarkValue] = field(default_factory=dict)
    max_share: float = 0.25
    max_count: int = 100
    burst_window: float = 3600.0


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """One PIM asset leaving: the DAM asset it belonged to, its key, and why."""

    asset: DamAsset
    family: str
    code: str
    reason: WithdrawalReason


def withdrawal_of(
    asset: DamAsset, state: AssetState | None, key: tuple[str, str] | None
) -> list[Withdrawal]:
    """
    The withdrawal of ``asset``'s stored PIM asset when it now maps to ``key`` (``None``: no
    rule matches it any more); none when it has no live stored asset or keeps its key.
    """
    if state is None or state.deleted or (state.family, state.code) == key:
        return []
    reason: WithdrawalReason = "unmatched" if key is None else "rekeyed"
    return [Withdrawal(asset, state.family, state.code, reason)]


def brake_trips(figures: BrakeFigures, new: int, options: WithdrawalOptions) -> bool:
    """
    Whether ``new`` more withdrawals in a family must wait for an operator: the family already
    has held ones, or with those of the burst window they exceed the count or the share of the
    family's assets (live ones plus those withdrawn in the window).
    """
    removed = figures.recent + new
    known = max(figures.live + figures.recent, 1)
    return (
        bool(figures.pending) or removed > options.max_count or removed > options.max_share * known
    )


class Withdrawer:
    """
    Applies a source's policy to withdrawn PIM assets, behind the brake; claims keys.

    ``pim_name`` is the configured name of the PIM ``pim`` writes to, recorded with each
    withdrawn asset; ``store`` reads that PIM's ownership (the wiring gives each source the
    store's view of its PIM).
    """

    def __init__(
        self,
        source: str,
        pim: PimWriter,
        store: BatchStore,
        options: WithdrawalOptions,
        structure: StructureCache,
        *,
        pim_name: str = DEFAULT_PIM,
    ) -> None:
        self.source = source
        self.pim = pim
        self.pim_name = pim_name
        self.store = store
        self.options = options
        self.structure = structure
        #: The source's direct product links (staged, flushed, and unlinked here).
        self.links = ProductLinks(source, pim, store)

    async def strays(
        self,
        decided: Mapping[str, tuple[DamAsset, tuple[str, str] | None, WithdrawalReason]],
        withdrawals: Sequence[Withdrawal],
    ) -> list[Withdrawal]:
        """
        Withdrawals of the other keys this source still holds live for the ``decided`` assets.

        ``decided`` maps a DAM id to its asset, the key it maps to now (``None``: none) and the
        reason its other keys leave. A crash between a PIM write and its commit leaves a claimed
        key the asset state does not know (a re-key's new code); without this, a later re-key or
        withdrawal would withdraw the stored key only and orphan that one.
        """
        if not decided:
            return []
        held = await asyncio.to_thread(self.store.live_keys, self.source, sorted(decided))
        known = {(w.asset.id, w.family, w.code) for w in withdrawals}
        out: list[Withdrawal] = []
        for dam_id, keys in held.items():
            asset, key, reason = decided[dam_id]
            out += [
                Withdrawal(asset, family, code, reason)
                for family, code in keys
                if (family, code) != key and (dam_id, family, code) not in known
            ]
        return out

    async def apply(
        self,
        withdrawals: Sequence[Withdrawal],
        written: Sequence[AssetWrite],
        failures: list[FailureRecord],
    ) -> list[WithdrawnAsset]:
        """
        Apply the policy to ``withdrawals`` and report what was done, for the batch commit.

        A re-keyed asset is withdrawn only once its new key was written, and never a key this
        batch has just written for another DAM asset.
        """
        done = {w.dam_id for w in written}
        taken = {(w.family, w.code) for w in written}
        todo = [
            w
            for w in withdrawals
            if (w.reason != "rekeyed" or w.asset.id in done) and (w.family, w.code) not in taken
        ]
        policy = self.options.policy
        if not todo:
            return []
        if policy == "ignore":
            for w in todo:
                log.warning(
                    "sync.withdrawal_ignored",
                    source=self.source,
                    asset=w.asset.id,
                    family=w.family,
                    code=w.code,
                    reason=w.reason,
                )
            return [self._record(w, "ignored") for w in todo]
        by_family: dict[str, list[Withdrawal]] = defaultdict(list)
        for w in todo:
            by_family[w.family].append(w)
        figures = await asyncio.to_thread(
            self.store.brake_figures, self.source, list(by_family), self.options.burst_window
        )
        out: list[WithdrawnAsset] = []
        for family, group in by_family.items():
            if brake_trips(figures.get(family, BrakeFigures()), len(group), self.options):
                log.error(
                    "sync.deletions_held",
                    source=self.source,
                    family=family,
                    held=len(group),
                    hint="damsync deletions list|approve|reject",
                )
                out.extend(self._record(w, "pending") for w in group)
                continue
            # The whole group leaves its products at once (reads and PATCHes of 100).
            refused = {}
            if policy in UNLINKING:
                refused = await self.links.unlink(family, [w.code for w in group])
            for w in group:
                try:
                    if w.code in refused:
                        raise refused[w.code]
                    await self.act(w.family, w.code, policy, unlinked=True)
                except UPSTREAM_WIDE:
                    raise
                except SyncError as exc:
                    failures.append(failure_of(w.asset.id, "delete", exc, w.asset))
                    continue
                out.append(self._record(w, ACTION_OF[policy]))
        return out

    async def act(
        self, family: str, code: str, policy: DeletePolicy | str, *, unlinked: bool = False
    ) -> None:
        """
        Apply ``policy`` to one PIM asset (no brake: the caller decided); ``unlinked``: its
        product links were already taken out.
        """
        if policy in UNLINKING and not unlinked:
            refused = await self.links.unlink(family, [code])
            if code in refused:
                raise refused[code]
        if policy == "delete":
            try:
                await self.pim.delete_asset(family, code)
            except PimNotFound:
                pass  # already gone: the goal is reached
            return
        if policy in ("mark", "unlink") and self.options.mark:
            shape = await self.structure.family(family)
            values = mark_values(self.options.mark, shape, await self.structure.channels())
            (result,) = await self.pim.upsert_assets(family, [PimAsset(family, code, values)])
            if not result.ok:
                raise result.error or MarkRefused(f"{family}/{code}: {result.message}")

    def _record(self, w: Withdrawal, action: OwnerAction) -> WithdrawnAsset:
        return WithdrawnAsset(
            w.asset.id, w.family, w.code, w.reason, action, self.options.policy, self.pim_name
        )


def mark_values(
    mark: Mapping[str, MarkValue], family: AssetFamily, channels: Sequence[Channel]
) -> dict[str, list[PimValue]]:
    """
    The mark as PIM values: a localizable or scopable attribute gets the value in every
    locale and channel the PIM has active, so the mark shows wherever the asset is read.
    """
    locales = sorted({loc for ch in channels for loc in ch.locales})
    values: dict[str, list[PimValue]] = {}
    scopes: list[tuple[str | None, str | None]]
    for code, data in mark.items():
        attribute = family.attributes.get(code)
        per_locale = attribute is not None and attribute.value_per_locale
        per_channel = attribute is not None and attribute.value_per_channel
        if per_locale and per_channel:
            scopes = [(loc, ch.code) for ch in channels for loc in ch.locales]
        elif per_channel:
            scopes = [(None, ch.code) for ch in channels]
        else:
            scopes = [(loc, None) for loc in locales] if per_locale else [(None, None)]
        values[code] = [PimValue(data, loc, ch) for loc, ch in scopes]
    return values


async def settle_pending(processor: BatchProcessor, ids: Sequence[int], *, approve: bool) -> int:
    """
    Resolve held deletions of the processor's source: approved ones get the policy they were
    held with (a failure keeps it held), rejected ones are kept in the PIM as they are. One held
    in another PIM than the source's (its ``pim`` changed since) is never applied to this one:
    it stays held (reject it, or approve it with the source pointed at that PIM again).

    Returns:
        How many were settled.
    """
    withdrawer = processor.withdrawer
    store = processor.store
    wanted = set(ids)
    held = await asyncio.to_thread(store.pending_deletions, withdrawer.source)
    outcomes: list[tuple[int, OwnerAction]] = []
    for row in (r for r in held if r.id in wanted):
        if not approve:
            outcomes.append((row.id, "kept"))
            continue
        if row.pim != withdrawer.pim_name:
            log.error(
                "sync.pending_deletion_elsewhere",
                id=row.id,
                code=row.code,
                held_in=row.pim,
                source_pim=withdrawer.pim_name,
            )
            continue
        try:
            await withdrawer.act(row.family, row.code, row.policy)
        except SyncError as exc:
            log.error("sync.pending_deletion_failed", id=row.id, code=row.code, error=str(exc))
            continue
        outcomes.append((row.id, _ACTIONS.get(row.policy, "deleted")))
    return await asyncio.to_thread(store.settle_pending, withdrawer.source, outcomes)


__all__ = [
    "ACTION_OF",
    "OwnershipConflict",
    "Withdrawal",
    "WithdrawalOptions",
    "Withdrawer",
    "brake_trips",
    "mark_values",
    "settle_pending",
    "withdrawal_of",
]
