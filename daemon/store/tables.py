"""
The state store's schema: SQLAlchemy 2 tables, the single source Alembic compares against.

Every datetime column is :class:`UtcDateTime`: timezone-aware on PostgreSQL, a naive UTC string
with full microseconds on SQLite, and always an aware UTC ``datetime`` in Python. The MetaData
carries a naming convention so that Alembic batch mode can drop and recreate constraints by name
on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

from daemon.core.events import MAX_DAM_ID, MAX_EVENT_ID

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: Closed set of run statuses (see :data:`daemon.store.rows.RunStatus`).
RUN_STATUSES = ("running", "success", "partial", "failed", "aborted")


class UtcDateTime(TypeDecorator[datetime]):
    """
    An aware UTC datetime in Python, stored at microsecond precision on every backend.

    Naive datetimes are refused on the way in: a cursor must never shift by the host's offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} refused by the state store")
        value = value.astimezone(UTC)
        # SQLite stores text; drop the offset so stored values compare as plain UTC strings.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


leases = Table(
    "sync_leases",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("holder", String(200), nullable=True, comment="NULL once released"),
    Column("epoch", BigInteger, nullable=False, comment="fencing token: +1 per holder change"),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, comment="computed on the DB clock"),
)

checkpoints = Table(
    "sync_checkpoints",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("epoch", BigInteger, nullable=False, comment="must equal the writer's lease epoch"),
    Column("cursor_updated_at", UtcDateTime, nullable=True),
    Column("cursor_id", String(500), nullable=True),
    Column("window_since", UtcDateTime, nullable=True),
    Column("window_until", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("(cursor_updated_at IS NULL) = (cursor_id IS NULL)", name="cursor_complete"),
)

source_configs = Table(
    "source_configs",
    metadata,
    Column("source", String(200), primary_key=True),
    Column(
        "mapping_hash",
        String(64),
        nullable=False,
        comment="SHA-256 of the mapping rules the failures were judged against",
    ),
    Column("updated_at", UtcDateTime, nullable=False),
)

runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("status", String(20), nullable=False),
    Column("seen", Integer, nullable=False, default=0),
    Column("written", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("dead_lettered", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    CheckConstraint(
        "status IN ({})".format(", ".join(f"'{s}'" for s in RUN_STATUSES)), name="status"
    ),
    Index("ix_sync_runs_source_started_at", "source", "started_at"),
)

asset_states = Table(
    "asset_states",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("dam_id", String(500), primary_key=True),
    Column("family", String(100), nullable=False),
    Column("code", String(255), nullable=False),
    Column("content_hash", String(128), nullable=False, comment="hash of the last written patch"),
    Column("binary_checksum", String(128), nullable=True),
    Column("media_code", String(500), nullable=True),
    Column("dam_updated_at", UtcDateTime, nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("last_synced_at", UtcDateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("sync_runs.id", ondelete="SET NULL"), nullable=True),
    Column("request_id", String(200), nullable=True, comment="the PIM request that wrote it"),
    Column(
        "managed_values",
        Text,
        nullable=True,
        comment="JSON list of the attr|locale|channel values damsync wrote; NULL: unknown",
    ),
)

media_files = Table(
    "media_files",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("checksum", String(128), primary_key=True),
    Column("media_code", String(500), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

failures = Table(
    "sync_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("dam_id", String(500), nullable=False),
    Column("stage", String(50), nullable=False),
    Column("error_type", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("permanent", Boolean, nullable=False),
    Column("dead_lettered", Boolean, nullable=False),
    Column("first_failed_at", UtcDateTime, nullable=False),
    Column("last_failed_at", UtcDateTime, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=True, comment="NULL: no blind retry"),
    Column("dam_updated_at", UtcDateTime, nullable=True),
    Column("run_id", Integer, ForeignKey("sync_runs.id", ondelete="SET NULL"), nullable=True),
    UniqueConstraint("source", "dam_id"),
    Index("ix_sync_failures_due", "source", "dead_lettered", "next_attempt_at"),
)

failure_attempts = Table(
    "failure_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("dam_id", String(500), nullable=False),
    Column("attempt", Integer, nullable=False, comment="1, 2, ... per open failure of the asset"),
    Column("stage", String(50), nullable=False),
    Column("error_type", String(200), nullable=False),
    Column("detail", Text, nullable=False),
    Column("failed_at", UtcDateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("sync_runs.id", ondelete="SET NULL"), nullable=True),
    UniqueConstraint("source", "dam_id", "attempt"),
)

#: What became of a PIM asset damsync no longer keeps live (see :mod:`daemon.store.ownership`).
OWNER_ACTIONS = ("deleted", "marked", "unlinked", "ignored", "pending", "kept")

#: Longest PIM name the state store keeps (a ``[pims.<name>]`` table, or ``default``).
MAX_PIM_NAME = 100

pim_owners = Table(
    "pim_owners",
    metadata,
    # A key is owned per PIM: one DAM written by two sources into two PIMs keeps its codes.
    Column("pim", String(MAX_PIM_NAME), primary_key=True, comment="the PIM's configured name"),
    Column("family", String(100), primary_key=True),
    Column("code", String(255), primary_key=True),
    Column("source", String(200), nullable=False, comment="the one source writing this asset"),
    Column("dam_id", String(500), nullable=False),
    Column("action", String(20), nullable=True, comment="NULL: live; else what withdrew it"),
    Column("reason", String(20), nullable=True, comment="tombstone, rekeyed or unmatched"),
    Column("changed_at", UtcDateTime, nullable=False),
    CheckConstraint(
        "action IN ({})".format(", ".join(f"'{a}'" for a in OWNER_ACTIONS)), name="action"
    ),
    Index("ix_pim_owners_source_family", "source", "family"),
    # live_keys reads a batch's keys by DAM id: without it, every batch scanned the source's rows.
    Index("ix_pim_owners_source_dam_id", "source", "dam_id"),
)

pending_deletions = Table(
    "pending_deletions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("pim", String(MAX_PIM_NAME), nullable=False, comment="the PIM holding the asset"),
    Column("family", String(100), nullable=False),
    Column("code", String(255), nullable=False),
    Column("dam_id", String(500), nullable=False),
    Column("reason", String(20), nullable=False),
    Column("policy", String(20), nullable=False, comment="the policy to apply once approved"),
    Column("requested_at", UtcDateTime, nullable=False),
    UniqueConstraint("pim", "family", "code"),
    Index("ix_pending_deletions_source", "source"),
)

#: Closed sets of the event inbox (see :mod:`daemon.store.inbox` and :mod:`daemon.core.events`).
INBOX_STATUSES = ("pending", "claimed", "done", "dead")
EVENT_KINDS = ("changed", "deleted")
EVENT_ORIGINS = ("webhook", "rabbitmq", "nats")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


event_inbox = Table(
    "event_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("event_id", String(MAX_EVENT_ID), nullable=False, comment="the dedupe key"),
    Column("dam_id", String(MAX_DAM_ID), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("origin", String(10), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, comment="claims so far, the current one included"),
    Column("next_attempt_at", UtcDateTime, nullable=False, comment="a pending row is due then"),
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_until", UtcDateTime, nullable=True, comment="an expired claim is taken over"),
    Column("last_error", Text, nullable=True, comment="redacted and truncated"),
    Column("done_at", UtcDateTime, nullable=True, comment="when it became done or dead"),
    UniqueConstraint("source", "event_id", "dam_id"),
    CheckConstraint(_one_of("kind", EVENT_KINDS), name="kind"),
    CheckConstraint(_one_of("origin", EVENT_ORIGINS), name="origin"),
    CheckConstraint(_one_of("status", INBOX_STATUSES), name="status"),
    CheckConstraint("attempts >= 0", name="attempts"),
    CheckConstraint("(status = 'claimed') = (claimed_until IS NOT NULL)", name="claim_complete"),
    CheckConstraint("(status IN ('done', 'dead')) = (done_at IS NOT NULL)", name="done_complete"),
    # The claim and the depth queries: one source's rows of a status, oldest received first.
    Index("ix_event_inbox_source_status_received_at", "source", "status", "received_at"),
    # Pruning: settled rows by the time they were settled.
    Index("ix_event_inbox_status_done_at", "status", "done_at"),
)

#: What a structure snapshot holds (see :mod:`daemon.store.structure_snapshots`).
SNAPSHOT_KINDS = ("family", "channels")

structure_snapshots = Table(
    "structure_snapshots",
    metadata,
    Column(
        "pim",
        String(500),
        primary_key=True,
        comment="the PIM's identity: its base URL without credentials, query or fragment",
    ),
    Column("kind", String(10), primary_key=True),
    Column("code", String(255), primary_key=True, comment="the family code; '' for channels"),
    Column("body", Text, nullable=True, comment="JSON of what was read; NULL: family missing"),
    Column("read_at", UtcDateTime, nullable=False, comment="when the PIM was read (TTL)"),
    CheckConstraint(_one_of("kind", SNAPSHOT_KINDS), name="kind"),
    CheckConstraint("kind = 'family' OR body IS NOT NULL", name="channels_body"),
)

dam_clock_readings = Table(
    "dam_clock_readings",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("dam_time", UtcDateTime, nullable=False, comment="the DAM's time in an answer"),
    Column(
        "monotonic",
        Double,
        nullable=False,
        comment="the reader's monotonic clock when that answer arrived",
    ),
    Column(
        "boot_id",
        String(64),
        nullable=False,
        comment="the reader host's boot: monotonic clocks compare within one boot only",
    ),
    Column("read_at", UtcDateTime, nullable=False, comment="wall clock, for people only"),
)

#: States of a staged product link (see :mod:`daemon.store.product_link_store`).
LINK_WANT_STATES = ("staged", "ready")

product_link_wants = Table(
    "product_link_wants",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("dam_id", String(MAX_DAM_ID), primary_key=True),
    Column("rule", Integer, primary_key=True, comment="index in the family's product_links"),
    Column(
        "state",
        String(10),
        primary_key=True,
        comment="staged before the asset write; ready once its batch committed",
    ),
    Column("family", String(100), nullable=False),
    Column("asset_code", String(255), nullable=False),
    Column("mode", String(10), nullable=False, comment="add or replace"),
    Column("placement", String(10), nullable=False, comment="first or last"),
    Column("targets", Text, nullable=False, comment="JSON: the product collections wanted"),
    Column("staged_at", UtcDateTime, nullable=False),
    CheckConstraint(_one_of("state", LINK_WANT_STATES), name="state"),
    CheckConstraint(_one_of("mode", ("add", "replace")), name="mode"),
    CheckConstraint(_one_of("placement", ("first", "last")), name="placement"),
)

product_links = Table(
    "product_links",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("kind", String(20), primary_key=True, comment="product or product_model"),
    Column("product", String(255), primary_key=True, comment="identifier or model code"),
    Column("attribute", String(100), primary_key=True),
    Column("locale", String(20), primary_key=True, comment="'' when not localizable"),
    Column("scope", String(100), primary_key=True, comment="'' when not scopable"),
    Column("asset_code", String(255), primary_key=True),
    Column("rule", Integer, primary_key=True),
    Column("family", String(100), nullable=False),
    Column("dam_id", String(MAX_DAM_ID), nullable=False),
    Column("position", Double, nullable=True, comment="lower first; NULL after those with one"),
    Column("linked_at", UtcDateTime, nullable=False),
    CheckConstraint(_one_of("kind", ("product", "product_model")), name="kind"),
    Index("ix_product_links_source_dam_id", "source", "dam_id"),
    Index("ix_product_links_source_family", "source", "family", "asset_code"),
)

__all__ = [
    "NAMING_CONVENTION",
    "EVENT_KINDS",
    "EVENT_ORIGINS",
    "INBOX_STATUSES",
    "LINK_WANT_STATES",
    "MAX_PIM_NAME",
    "OWNER_ACTIONS",
    "RUN_STATUSES",
    "SNAPSHOT_KINDS",
    "UtcDateTime",
    "asset_states",
    "checkpoints",
    "dam_clock_readings",
    "event_inbox",
    "failure_attempts",
    "failures",
    "leases",
    "media_files",
    "metadata",
    "pending_deletions",
    "pim_owners",
    "product_link_wants",
    "product_links",
    "runs",
    "structure_snapshots",
]
