"""
What a batch records BEFORE its PIM write, in one transaction: key claims and write intents;
and the media codes each upload records at once.

:func:`prepare_batch` claims the PIM keys the batch is about to write in the source's PIM (a key
another source holds in that PIM is refused, so two sources never overwrite each other; the same
key in another PIM is another PIM asset) and notes where its new assets
will live (:func:`record_intents`), together: a crash after the PIM's answer then loses no
deletion, and a claim never exists without its intent nor the other way round. Every row goes
through one executemany upsert (ON CONFLICT), never a statement per row; the statements are
built once per dialect (:mod:`daemon.store.statements`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Delete, Executable, Select, bindparam, delete, or_, select

from daemon.store.driver_in import driver_in
from daemon.store.driver_many import driver_many
from daemon.store.statements import chunks, dialect_insert, ids_param
from daemon.store.tables import asset_states, media_files, pending_deletions, pim_owners

if TYPE_CHECKING:
    from sqlalchemy import Connection

#: ``(dam_id, family, code)``: where an asset of the batch is about to be written.
Key = tuple[str, str, str]


def prepare_batch(
    session: Connection,
    source: str,
    pim: str,
    claims: Sequence[Key],
    intents: Sequence[Key],
    now: datetime,
) -> dict[tuple[str, str], str]:
    """
    Claim ``claims`` in ``pim`` (its configured name) and note ``intents`` inside the caller's
    transaction, before the PIM write.

    An intent whose key is refused is not noted: that asset is not written.

    Returns:
        The refused keys ``(family, code)``, with the source owning each.
    """
    refused = claim_keys(session, source, pim, claims, now)
    record_intents(session, source, [i for i in intents if (i[1], i[2]) not in refused], now)
    return refused


def claim_keys(
    session: Connection, source: str, pim: str, claims: Sequence[Key], now: datetime
) -> dict[tuple[str, str], str]:
    """
    Claim ``(dam_id, family, code)`` keys of ``pim`` for ``source`` in the caller's transaction.

    A key that is free, deleted or already this source's is taken (a held deletion of it is
    dropped: the asset is live again). Returns the keys refused, with the source owning each.
    """
    if not claims:
        return {}
    by_key = {(f, c): d for d, f, c in claims}
    rows = [(f, c, d) for (f, c), d in sorted(by_key.items())]
    claim = driver_many(session, "claim", _claim, _CLAIM_COLUMNS)
    claim.run(session, rows, {"pim": pim, "source": source, "changed_at": now})
    refused: dict[tuple[str, str], str] = {}
    elsewhere = driver_in(session, "owned_elsewhere", _owned_elsewhere, "codes")
    drop_held = driver_in(session, "drop_held", _drop_held, "codes")
    for family, codes in _by_family(by_key).items():
        for part in chunks(codes):
            params = {"source": source, "pim": pim, "family": family, "codes": list(part)}
            found = elsewhere.run(session, params)
            refused.update({(family, code): owner for code, owner in found})
            drop_held.run(session, params)
    return refused


def record_intents(session: Connection, source: str, intents: Sequence[Key], now: datetime) -> None:
    """
    Note where assets are about to be written (``dam_id, family, code``), before the PIM write.

    A crash between the PIM's acknowledgement and the batch commit would otherwise leave an
    asset in the PIM that the store has never heard of: if the DAM then deleted it, its
    tombstone (no metadata, so no family) could not be applied, and no sweep would know it.
    An intent row has an empty content hash, so it never makes a later write look unchanged;
    a known asset's row is left alone, a deleted one is revived as an intent. An intent's
    managed values are unknown (NULL): a revived row's keys belonged to the deleted asset.
    """
    rows = [
        (dam_id, family, code)
        for dam_id, (family, code) in {i[0]: (i[1], i[2]) for i in intents}.items()
    ]
    if rows:
        shared = {"source": source, "content_hash": "", "deleted": False, "last_synced_at": now}
        driver_many(session, "intent", _intent, _INTENT_COLUMNS).run(session, rows, shared)


def record_media(session: Connection, source: str, codes: Mapping[str, str], now: datetime) -> None:
    """Remember ``checksum -> media file code`` pairs (an uploaded binary is never sent again)."""
    if codes:
        rows = sorted(codes.items())
        shared = {"source": source, "recorded_at": now}
        driver_many(session, "media", _media, _MEDIA_COLUMNS).run(session, rows, shared)


#: The columns of a claim, an intent and a media code: rows give the varying ones (see
#: :mod:`.driver_many`).
_CLAIM_COLUMNS = ("pim", "family", "code", "source", "dam_id", "changed_at")
_MEDIA_COLUMNS = ("checksum", "media_code", "source", "recorded_at")
_INTENT_COLUMNS = (
    "dam_id",
    "family",
    "code",
    "source",
    "content_hash",
    "deleted",
    "last_synced_at",
)


@functools.cache
def _claim(dialect: str) -> Executable:
    stmt = dialect_insert(dialect, pim_owners)
    return stmt.on_conflict_do_update(
        index_elements=[pim_owners.c.pim, pim_owners.c.family, pim_owners.c.code],
        set_={
            "source": stmt.excluded.source,
            "dam_id": stmt.excluded.dam_id,
            "action": None,
            "reason": None,
            "changed_at": stmt.excluded.changed_at,
        },
        # Every row carries the claiming source: ours already, or withdrawn by deletion.
        where=or_(pim_owners.c.source == stmt.excluded.source, pim_owners.c.action == "deleted"),
    )


@functools.cache
def _owned_elsewhere() -> Select[Any]:
    owners = pim_owners.c
    return select(owners.code, owners.source).where(
        owners.pim == bindparam("pim"),
        owners.family == bindparam("family"),
        owners.code.in_(ids_param("codes")),
        owners.source != bindparam("source"),
    )


@functools.cache
def _drop_held() -> Delete:
    held = pending_deletions.c
    return delete(pending_deletions).where(
        held.source == bindparam("source"),
        held.pim == bindparam("pim"),
        held.family == bindparam("family"),
        held.code.in_(ids_param("codes")),
    )


@functools.cache
def _intent(dialect: str) -> Executable:
    stmt = dialect_insert(dialect, asset_states)
    return stmt.on_conflict_do_update(
        index_elements=[asset_states.c.source, asset_states.c.dam_id],
        set_={
            "family": stmt.excluded.family,
            "code": stmt.excluded.code,
            "content_hash": "",
            "deleted": False,
            "managed_values": None,
        },
        where=asset_states.c.deleted.is_(True),
    )


@functools.cache
def _media(dialect: str) -> Executable:
    stmt = dialect_insert(dialect, media_files)
    return stmt.on_conflict_do_update(
        index_elements=[media_files.c.source, media_files.c.checksum],
        set_={"media_code": stmt.excluded.media_code, "recorded_at": stmt.excluded.recorded_at},
    )


def _by_family(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for family, code in sorted(keys):
        grouped[family].append(code)
    return grouped


__all__ = ["Key", "claim_keys", "prepare_batch", "record_intents", "record_media"]
