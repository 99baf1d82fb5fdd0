"""
Direct product links in the state: what each written asset wants, and what damsync put where.

Two tables (migration 0009):

- ``product_link_wants``: per asset and link rule, the product collections it should be in.
  Rows are *staged* (:meth:`ProductLinkStore.stage`) before the asset's PIM write and turned
  *ready* by :func:`activate_wants` inside the batch's own commit transaction, so a ready row
  always belongs to an asset the PIM has and the store recorded. The link writer reads ready
  rows, writes the products and deletes the rows (:meth:`ProductLinkStore.settle`, fenced by
  the lease epoch) in one transaction; a crash in between leaves them ready: resumed.
- ``product_links``: which asset code damsync put into which product collection by which rule
  (its stable key). Only these codes are ever removed; codes damsync did not add never are.
  ``''`` stands for "no locale" / "no scope" in the key columns (SQL keys cannot hold NULL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, tuple_, update

from daemon.store.link_activation import LINK_STAGE, activate_wants, settle_unchanged
from daemon.store.rows import FailureRecord, Lease, LeaseLostError
from daemon.store.session_boundary import SessionBoundary
from daemon.store.statements import CHUNK, chunks
from daemon.store.tables import (
    checkpoints,
    failure_attempts,
    failures,
    product_link_wants,
    product_links,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

#: Rows per ``IN`` of composite keys (each key is several parameters).
KEY_CHUNK = 100
#: A stored ``rule`` below this is a rule's index (rows written before rules had stable keys).
LEGACY_RULES = 1 << 30


@dataclass(frozen=True, slots=True, order=True)
class LinkTarget:
    """
    One product collection value: a product (or model), an asset-collection attribute and its
    locale and scope (``None`` when the attribute is not localizable / scopable).
    """

    kind: str
    product: str
    attribute: str
    locale: str | None = None
    scope: str | None = None

    @property
    def product_key(self) -> tuple[str, str]:
        return (self.kind, self.product)


@dataclass(frozen=True, slots=True)
class WantedLink:
    """A collection an asset should be in, and its position there (lower first)."""

    target: LinkTarget
    position: float | None = None


@dataclass(frozen=True, slots=True)
class LinkWant:
    """
    What one asset wants from one link rule of its family.

    Args:
        dam_id: The DAM asset.
        rule: The rule's stable key (``product_link_targets.rule_key``), not its index.
        family: The asset family (the collections' ``reference_data_name``).
        asset_code: The PIM asset code.
        mode: ``add`` or ``replace``.
        placement: ``first`` or ``last``: damsync's codes relative to the others.
        links: The collections wanted (``replace``: exactly these for this asset and rule).
    """

    dam_id: str
    rule: int
    family: str
    asset_code: str
    mode: str
    placement: str
    links: tuple[WantedLink, ...] = ()


@dataclass(frozen=True, slots=True)
class OwnedLink:
    """A row of ``product_links``: damsync put ``asset_code`` into ``target`` by ``rule``."""

    target: LinkTarget
    asset_code: str
    rule: int
    family: str
    dam_id: str
    position: float | None = None


def _key(value: str | None) -> str:
    return value or ""


_TARGET = ("kind", "product", "attribute", "locale", "scope")


def _encode(links: Iterable[WantedLink]) -> str:
    rows = [[*(getattr(w.target, f) for f in _TARGET), w.position] for w in links]
    return json.dumps(rows, separators=(",", ":"))


def _decode(text: str) -> tuple[WantedLink, ...]:
    return tuple(
        WantedLink(LinkTarget(kind, product, attribute, locale, scope), position)
        for kind, product, attribute, locale, scope, position in json.loads(text)
    )


def _want(row: Any) -> LinkWant:
    fields = (row.dam_id, row.rule, row.family, row.asset_code, row.mode, row.placement)
    return LinkWant(*fields, _decode(row.targets))


def _owned(row: Any) -> OwnedLink:
    target = LinkTarget(row.kind, row.product, row.attribute, row.locale or None, row.scope or None)
    return OwnedLink(target, row.asset_code, row.rule, row.family, row.dam_id, row.position)


def fence_links(session: Connection, lease: Lease) -> None:
    """
    First in a link write's transaction: the batch commit's compare-and-set of ``lease``'s epoch
    on the checkpoint row; a stale owner is refused (``LeaseLostError``) before any row changes.
    """
    c = checkpoints.c
    row = session.execute(
        update(checkpoints)
        .where(c.source == lease.source, c.epoch == lease.epoch)
        .values(epoch=c.epoch)
        .returning(c.epoch)
    ).first()
    if row is None:
        raise LeaseLostError(source=lease.source, epoch=lease.epoch)


class ProductLinkStore(SessionBoundary):
    """The product link tables of a store (built on the same engine: ``for_store``)."""

    @classmethod
    def for_store(cls, store: SessionBoundary) -> ProductLinkStore:
        """The link tables of ``store``'s database, with its clock and backoff policy."""
        return cls(store.engine, backoff=store.backoff, clock=store._clock)

    def stage(self, source: str, dam_ids: Sequence[str], wants: Sequence[LinkWant]) -> None:
        """
        After a batch's PIM write, before its commit: the wants of ``dam_ids``, replacing every
        older want of theirs (staged, or ready and not written yet: superseded by this one).
        """
        now = self._clock()
        w = product_link_wants.c
        with self._write("stage_links") as session:
            for part in chunks(sorted(set(dam_ids))):
                session.execute(
                    delete(product_link_wants).where(w.source == source, w.dam_id.in_(part))
                )
            rows = [
                {
                    "source": source,
                    "dam_id": want.dam_id,
                    "rule": want.rule,
                    "state": "staged",
                    "family": want.family,
                    "asset_code": want.asset_code,
                    "mode": want.mode,
                    "placement": want.placement,
                    "targets": _encode(want.links),
                    "staged_at": now,
                }
                for want in {(x.dam_id, x.rule): x for x in wants}.values()
            ]
            if rows:
                session.execute(product_link_wants.insert(), rows)

    def ready_wants(self, source: str, limit: int) -> list[LinkWant]:
        """Up to ``limit`` ready wants of ``source``, whole assets, by DAM id."""
        w = product_link_wants.c
        with self._read("ready_links") as session:
            ids = [
                row.dam_id
                for row in session.execute(
                    select(w.dam_id)
                    .where(w.source == source, w.state == "ready")
                    .group_by(w.dam_id)
                    .order_by(w.dam_id)
                    .limit(limit)
                )
            ]
            out: list[LinkWant] = []
            for part in chunks(ids):
                query = (
                    select(product_link_wants)
                    .where(w.source == source, w.state == "ready", w.dam_id.in_(part))
                    .order_by(w.dam_id, w.rule)
                )
                out += [_want(row) for row in session.execute(query)]
        return out

    def owned_by_assets(self, source: str, dam_ids: Sequence[str]) -> list[OwnedLink]:
        """The links damsync made for these DAM assets."""
        c = product_links.c
        return self._owned(source, c.dam_id, sorted(set(dam_ids)), CHUNK)

    def owned_by_codes(self, source: str, family: str, codes: Sequence[str]) -> list[OwnedLink]:
        """The links damsync made for these PIM assets of ``family``."""
        c = product_links.c
        return self._owned(source, c.asset_code, sorted(set(codes)), CHUNK, c.family == family)

    def owned_in(self, source: str, products: Iterable[tuple[str, str]]) -> list[OwnedLink]:
        """Every link damsync made into these products (``(kind, key)``), whatever the asset."""
        c = product_links.c
        return self._owned(source, tuple_(c.kind, c.product), sorted(set(products)), KEY_CHUNK)

    def _owned(
        self, source: str, column: Any, keys: list[Any], size: int, *where: Any
    ) -> list[OwnedLink]:
        c = product_links.c
        with self._read("owned_links") as session:
            return [
                _owned(row)
                for part in chunks(keys, size)
                for row in session.execute(
                    select(product_links).where(c.source == source, column.in_(list(part)), *where)
                )
            ]

    def settle(
        self,
        source: str,
        *,
        done: Sequence[tuple[str, int]] = (),
        added: Sequence[OwnedLink] = (),
        removed: Sequence[OwnedLink] = (),
        failed: Sequence[FailureRecord] = (),
        succeeded: Sequence[str] = (),
        run_id: int | None = None,
        lease: Lease | None = None,
    ) -> None:
        """
        Record a product link write in ONE transaction.

        Args:
            source: The source.
            done: ``(dam_id, rule)`` of the ready wants handled (deleted).
            added: Links damsync just wrote.
            removed: Links damsync just took out (or found gone).
            failed: Assets whose links failed (stage ``links``; attempts as any failure).
            succeeded: Assets whose links all went through: their ``links`` failure is closed.
            run_id: The run, when known.
            lease: The lease the write ran under: its epoch is checked first, in the same
                transaction (``None``: unfenced, a caller without a lease).

        Raises:
            LeaseLostError: Another holder took the source over: nothing is recorded.
        """
        # The batch commit imports this module (activate_wants): imported here, not above.
        from daemon.store.batch_commit import record_failures

        now = self._clock()
        w = product_link_wants.c
        with self._write("settle_links") as session:
            if lease is not None:
                fence_links(session, lease)
            for part in chunks(sorted(set(done)), KEY_CHUNK):
                session.execute(
                    delete(product_link_wants).where(
                        w.source == source,
                        w.state == "ready",
                        tuple_(w.dam_id, w.rule).in_(list(part)),
                    )
                )
            gone = sorted({_row_key(x) for x in removed} - {_row_key(x) for x in added})
            _delete_owned(session, source, gone)
            _upsert_owned(session, source, added, now)
            _clear_link_failures(session, source, set(succeeded) - {f.dam_id for f in failed})
            record_failures(
                session, source, run_id, {f.dam_id: f for f in failed}, now, self.backoff
            )


def _row_key(link: OwnedLink) -> tuple[str, str, str, str, str, str, int]:
    t = link.target
    return (
        t.kind,
        t.product,
        t.attribute,
        _key(t.locale),
        _key(t.scope),
        link.asset_code,
        link.rule,
    )


def _upsert_owned(
    session: Connection, source: str, added: Sequence[OwnedLink], now: datetime
) -> None:
    rows = {
        _row_key(x): {
            "source": source,
            "kind": x.target.kind,
            "product": x.target.product,
            "attribute": x.target.attribute,
            "locale": _key(x.target.locale),
            "scope": _key(x.target.scope),
            "asset_code": x.asset_code,
            "rule": x.rule,
            "family": x.family,
            "dam_id": x.dam_id,
            "position": x.position,
            "linked_at": now,
        }
        for x in added
    }
    if not rows:
        return
    # Delete-then-insert: the same statements on SQLite and PostgreSQL, one row per key.
    _delete_owned(session, source, list(rows))
    # A row of the same link stored under a rule's index (before stable keys) is replaced.
    c = product_links.c
    legacy = tuple_(c.kind, c.product, c.attribute, c.locale, c.scope, c.asset_code)
    for part in chunks(sorted({key[:6] for key in rows}), KEY_CHUNK):
        session.execute(
            delete(product_links).where(
                c.source == source, c.rule < LEGACY_RULES, legacy.in_(list(part))
            )
        )
    session.execute(product_links.insert(), list(rows.values()))


def _delete_owned(session: Connection, source: str, keys: Sequence[tuple[Any, ...]]) -> None:
    c = product_links.c
    columns = tuple_(c.kind, c.product, c.attribute, c.locale, c.scope, c.asset_code, c.rule)
    for part in chunks(keys, KEY_CHUNK):
        session.execute(delete(product_links).where(c.source == source, columns.in_(list(part))))


def _clear_link_failures(session: Connection, source: str, dam_ids: set[str]) -> None:
    for part in chunks(sorted(dam_ids)):
        for table in (failures, failure_attempts):
            session.execute(
                delete(table).where(
                    table.c.source == source,
                    table.c.dam_id.in_(part),
                    table.c.stage == LINK_STAGE,
                )
            )


__all__ = [
    "LINK_STAGE",
    "LinkTarget",
    "LinkWant",
    "OwnedLink",
    "LEGACY_RULES",
    "ProductLinkStore",
    "WantedLink",
    "activate_wants",
    "fence_links",
    "settle_unchanged",
]
