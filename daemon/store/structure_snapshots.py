"""
:class:`StructureSnapshotAccess`: the PIM structure as last read, so a new process need not read it.

One row per (PIM, family): the JSON of the family read (attributes, option codes, main media,
labels) and when it was read, or ``body`` NULL when the PIM said the family does not exist; one
row per PIM for its channels. The PIM is named by an identity that is not a secret (its base
URL without credentials, query or fragment, see :func:`pim_identity`), so several PIMs can share
one database. The TTL and the self-heal rules are the engine's
(:mod:`daemon.engine.structure_cache`): the store returns the rows read after a given time and
replaces or drops rows as it is told.

A row this version cannot decode (written by a later version with another shape) is ignored,
so the family is read from the PIM again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import ColumnElement, and_, delete, or_, select

from daemon.core.lazy_log import LazyLogger
from daemon.core.records import AssetAttribute, AssetFamily, Channel
from daemon.store.session_boundary import SessionBoundary
from daemon.store.statements import upsert
from daemon.store.tables import structure_snapshots

log = LazyLogger(__name__)

#: The shape of ``body``; a row of another version is ignored (read again from the PIM).
SNAPSHOT_VERSION = 2


@dataclass(frozen=True, slots=True)
class FamilySnapshot:
    """
    One family as read from the PIM.

    Args:
        code: The family code.
        family: The structure, or ``None``: the PIM said the family does not exist.
        read_at: When the PIM was read (aware UTC).
    """

    code: str
    family: AssetFamily | None
    read_at: datetime


@dataclass(frozen=True, slots=True)
class ChannelsSnapshot:
    """The PIM's channels as read, and when."""

    channels: tuple[Channel, ...]
    read_at: datetime


@dataclass(frozen=True, slots=True)
class StructureSnapshots:
    """What a PIM's rows hold: families by code, and the channels if they were stored."""

    families: Mapping[str, FamilySnapshot] = field(default_factory=dict)
    channels: ChannelsSnapshot | None = None


def pim_identity(base_url: str) -> str:
    """
    The key of a PIM's rows: its base URL without user info, query or fragment (no secret).

    Args:
        base_url: ``pim.base_url`` as configured.
    """
    parts = urlsplit(base_url.strip())
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme.lower(), netloc.lower(), parts.path.rstrip("/"), "", ""))


def encode_family(family: AssetFamily) -> str:
    """The JSON text of a family (attributes by code, option codes sorted)."""
    attributes = []
    for attribute in family.attributes.values():
        raw = asdict(attribute)
        raw["labels"] = dict(attribute.labels)
        raw["allowed_extensions"] = list(attribute.allowed_extensions)
        attributes.append(raw)
    body = {
        "v": SNAPSHOT_VERSION,
        "code": family.code,
        "attributes": attributes,
        "options": {a: sorted(codes) for a, codes in family.options.items()},
        "attribute_as_main_media": family.attribute_as_main_media,
        "labels": dict(family.labels),
        "naming_source": list(family.naming_source) if family.naming_source else None,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def decode_family(text: str) -> AssetFamily:
    """
    The family of :func:`encode_family`'s text.

    Raises:
        ValueError: Not a family of this version.
    """
    body = _body(text)
    try:
        attributes: dict[str, AssetAttribute] = {}
        for raw in body["attributes"]:
            raw = dict(raw)
            raw["labels"] = dict(raw.get("labels", {}))
            raw["allowed_extensions"] = tuple(raw.get("allowed_extensions", ()))
            attribute = AssetAttribute(**raw)
            attributes[attribute.code] = attribute
        return AssetFamily(
            code=str(body["code"]),
            attributes=attributes,
            options={str(a): frozenset(map(str, c)) for a, c in body["options"].items()},
            attribute_as_main_media=body["attribute_as_main_media"],
            labels=dict(body["labels"]),
            naming_source=_naming_source(body.get("naming_source")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a family snapshot: {exc}") from None


def _naming_source(raw: Any) -> tuple[str, str | None, str | None] | None:
    if raw is None:
        return None
    attribute, locale, channel = raw
    return str(attribute), locale, channel


def encode_channels(channels: Sequence[Channel]) -> str:
    body = {"v": SNAPSHOT_VERSION, "channels": [[c.code, list(c.locales)] for c in channels]}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def decode_channels(text: str) -> tuple[Channel, ...]:
    body = _body(text)
    try:
        return tuple(
            Channel(str(code), tuple(map(str, locales))) for code, locales in body["channels"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a channels snapshot: {exc}") from None


def _body(text: str) -> dict[str, Any]:
    body = json.loads(text)
    if not isinstance(body, dict) or body.get("v") != SNAPSHOT_VERSION:
        raise ValueError("snapshot of another version")
    return body


class StructureSnapshotAccess(SessionBoundary):
    """The persisted PIM structure: load the fresh rows, replace them, drop them."""

    def load_structure(self, pim: str, since: datetime) -> StructureSnapshots:
        """
        The rows of ``pim`` read at or after ``since`` (older ones are ignored, not deleted).

        Args:
            pim: The PIM's identity (:func:`pim_identity`).
            since: The oldest ``read_at`` still wanted (now minus the TTL).
        """
        t = structure_snapshots
        query = select(t.c.kind, t.c.code, t.c.body, t.c.read_at).where(
            and_(t.c.pim == pim, t.c.read_at >= since)
        )
        with self._read("load_structure") as session:
            rows = session.execute(query).all()
        families: dict[str, FamilySnapshot] = {}
        channels = None
        for kind, code, body, read_at in rows:
            try:
                if kind == "channels":
                    channels = ChannelsSnapshot(decode_channels(body), read_at)
                else:
                    family = None if body is None else decode_family(body)
                    families[code] = FamilySnapshot(code, family, read_at)
            except ValueError as exc:
                log.warning(
                    "store.structure_snapshot_ignored", kind=kind, code=code, error=str(exc)
                )
        return StructureSnapshots(families, channels)

    def save_structure(
        self,
        pim: str,
        families: Sequence[FamilySnapshot] = (),
        channels: ChannelsSnapshot | None = None,
    ) -> None:
        """Replace the rows of these families (and of the channels) in ONE transaction."""
        rows = [
            {
                "pim": pim,
                "kind": "family",
                "code": s.code,
                "body": None if s.family is None else encode_family(s.family),
                "read_at": s.read_at,
            }
            for s in {s.code: s for s in families}.values()
        ]
        if channels is not None:
            rows.append(
                {
                    "pim": pim,
                    "kind": "channels",
                    "code": "",
                    "body": encode_channels(channels.channels),
                    "read_at": channels.read_at,
                }
            )
        if not rows:
            return
        with self._write("save_structure") as session:
            insert = upsert(session, structure_snapshots)
            statement = insert.on_conflict_do_update(
                index_elements=["pim", "kind", "code"],
                set_={"body": insert.excluded.body, "read_at": insert.excluded.read_at},
            )
            session.execute(statement, rows)

    def drop_structure(
        self, pim: str, families: Sequence[str] | None = None, *, channels: bool = False
    ) -> None:
        """
        Forget rows of ``pim``: these families (and the channels when asked), or every row.

        Args:
            pim: The PIM's identity.
            families: Family codes, or ``None`` for every row of the PIM, channels included.
            channels: Drop the channels row too.
        """
        t = structure_snapshots
        where: ColumnElement[bool] = t.c.pim == pim
        if families is not None:
            rows = and_(t.c.kind == "family", t.c.code.in_(list(families)))
            where = and_(where, or_(rows, t.c.kind == "channels") if channels else rows)
        with self._write("drop_structure") as session:
            session.execute(delete(t).where(where))


__all__ = [
    "ChannelsSnapshot",
    "FamilySnapshot",
    "StructureSnapshotAccess",
    "StructureSnapshots",
    "decode_family",
    "encode_family",
    "pim_identity",
]
