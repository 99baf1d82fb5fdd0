"""
The replicas table: every running ``damsync run`` announces itself here, on the store's schema.

One row per replica (its lease holder name), renewed by its heartbeat with an expiry on the
database clock. The replicas of one PostgreSQL database read the live rows to spread the
sources between them (:mod:`daemon.engine.leasing`); a SQLite database refuses a second
live process. The table lives on :data:`daemon.store.tables.metadata` (migration ``0010``).
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from daemon.store.tables import UtcDateTime, metadata

replicas = Table(
    "sync_replicas",
    metadata,
    Column("replica", String(200), primary_key=True, comment="its lease holder name"),
    Column("started_at", UtcDateTime, nullable=False, comment="first heartbeat (DB clock)"),
    Column("seen_at", UtcDateTime, nullable=False, comment="last heartbeat (DB clock)"),
    Column("expires_at", UtcDateTime, nullable=False, comment="dead after this (DB clock)"),
)

__all__ = ["replicas"]
