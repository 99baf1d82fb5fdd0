"""
The product link statements of a batch commit: its wants made ready, its unchanged assets'
failures settled (see :mod:`daemon.store.product_link_store` for the tables).

They run inside the batch commit's transaction, once per batch: the ``UPDATE`` of the wants is
compiled once per driver (:mod:`daemon.store.driver_in`) rather than rendered again per batch.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, select, update

from daemon.store.driver_in import driver_in
from daemon.store.statements import chunks, ids_param
from daemon.store.tables import failure_attempts, failures, product_link_wants

if TYPE_CHECKING:
    from sqlalchemy import Connection, Update

#: The stage of failures of product links (a failures-table row per asset).
LINK_STAGE = "links"


@functools.cache
def _activate() -> Update:
    """The staged wants of a list of DAM ids made ready (built once)."""
    w = product_link_wants.c
    return (
        update(product_link_wants)
        .where(
            w.source == bindparam("source"),
            w.state == bindparam("staged"),
            w.dam_id.in_(ids_param()),
        )
        .values(state=bindparam("ready"))
    )


def activate_wants(session: Connection, source: str, dam_ids: Iterable[str]) -> None:
    """
    Inside a batch commit (one statement): the staged wants of the assets it wrote or found
    unchanged become ready. Wants of assets that failed stay staged, never written.
    """
    ids = sorted(set(dam_ids))
    if not ids:
        return
    activate = driver_in(session, "activate_wants", _activate)
    for part in chunks(ids):
        params = {"source": source, "staged": "staged", "ready": "ready", "ids": list(part)}
        activate.run(session, params)


def settle_unchanged(session: Connection, source: str, dam_ids: Iterable[str]) -> None:
    """
    Inside a batch commit: assets found unchanged settle their failures, except a dead-lettered
    link failure (its links are tried again when the asset is written again).
    """
    f, a = failures.c, failure_attempts.c
    for part in chunks(sorted(set(dam_ids))):
        keep = (f.stage == LINK_STAGE) & f.dead_lettered
        session.execute(delete(failures).where(f.source == source, f.dam_id.in_(part), ~keep))
        kept = select(f.dam_id).where(f.source == source, f.dam_id.in_(part))
        session.execute(
            delete(failure_attempts).where(
                a.source == source, a.dam_id.in_(part), a.dam_id.not_in(kept)
            )
        )


__all__ = ["LINK_STAGE", "activate_wants", "settle_unchanged"]
