"""
The progress of ``damsync migrate-pam`` in the state database (migration ``0012``).

Three facts, each scoped by the target PIM (its configured name), so two migrations into two
PIMs never mix: a legacy file key's content hash, a content's uploaded media file code, and an
asset written with the fingerprint of what was written. The tables live on
:data:`daemon.store.tables.metadata`; :mod:`daemon.store.pam_progress_store` reads and writes them.
"""

from __future__ import annotations

from sqlalchemy import Column, String, Table, Text

from daemon.store.tables import metadata

pam_file_keys = Table(
    "pam_file_keys",
    metadata,
    Column("pim", String(200), primary_key=True, comment="the target PIM's configured name"),
    Column("key", String(700), primary_key=True, comment="a legacy PAM file key"),
    Column("checksum", String(64), nullable=False, comment="SHA-256 of its content"),
)

pam_media = Table(
    "pam_media",
    metadata,
    Column("pim", String(200), primary_key=True, comment="the target PIM's configured name"),
    Column("checksum", String(64), primary_key=True, comment="SHA-256 of an uploaded content"),
    Column("code", Text, nullable=False, comment="its Asset Manager media file code"),
)

pam_assets = Table(
    "pam_assets",
    metadata,
    Column("pim", String(200), primary_key=True, comment="the target PIM's configured name"),
    Column("family", String(255), primary_key=True, comment="the asset family"),
    Column("code", String(255), primary_key=True, comment="the asset code"),
    Column("fingerprint", String(64), nullable=False, comment="hash of what was written"),
)

__all__ = ["pam_assets", "pam_file_keys", "pam_media"]
