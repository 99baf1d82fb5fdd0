"""pim_owners and pending_deletions: which source owns each PIM asset, and held deletions

``pim_owners`` has one row per PIM asset damsync ever wrote: the one source allowed to write it,
the DAM asset it belongs to, and, once it is no longer live, what was done to it and why
(``action``: deleted, marked, unlinked, ignored, pending, kept; ``reason``: tombstone, rekeyed,
unmatched). ``pending_deletions`` holds the withdrawals the mass-deletion brake stopped until an
operator approves or rejects them.

The upgrade fills ``pim_owners`` from the live asset states. Where two sources already share a
PIM asset (possible before this revision), the first source by name keeps it; the other's next
write of it fails and names both sources.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIONS = "'deleted', 'marked', 'unlinked', 'ignored', 'pending', 'kept'"


def upgrade() -> None:
    op.create_table(
        "pim_owners",
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column(
            "source",
            sa.String(length=200),
            nullable=False,
            comment="the one source writing this asset",
        ),
        sa.Column("dam_id", sa.String(length=500), nullable=False),
        sa.Column(
            "action",
            sa.String(length=20),
            nullable=True,
            comment="NULL: live; else what withdrew it",
        ),
        sa.Column(
            "reason",
            sa.String(length=20),
            nullable=True,
            comment="tombstone, rekeyed or unmatched",
        ),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"action IN ({ACTIONS})", name=op.f("ck_pim_owners_action")),
        sa.PrimaryKeyConstraint("family", "code", name=op.f("pk_pim_owners")),
    )
    with op.batch_alter_table("pim_owners", schema=None) as batch_op:
        batch_op.create_index("ix_pim_owners_source_family", ["source", "family"], unique=False)

    op.create_table(
        "pending_deletions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("dam_id", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column(
            "policy",
            sa.String(length=20),
            nullable=False,
            comment="the policy to apply once approved",
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_deletions")),
        sa.UniqueConstraint("family", "code", name=op.f("uq_pending_deletions_family_code")),
    )
    with op.batch_alter_table("pending_deletions", schema=None) as batch_op:
        batch_op.create_index("ix_pending_deletions_source", ["source"], unique=False)

    # Every live asset state becomes its PIM asset's owner: the first source by name, and in it
    # the first DAM id, where several share one (MIN over the group; the pair is one row's).
    op.execute(
        """
        INSERT INTO pim_owners (family, code, source, dam_id, action, reason, changed_at)
        SELECT s.family, s.code, s.source, MIN(s.dam_id), NULL, NULL, MAX(s.last_synced_at)
        FROM asset_states s
        WHERE s.deleted = false
          AND s.source = (
            SELECT MIN(o.source) FROM asset_states o
            WHERE o.family = s.family AND o.code = s.code AND o.deleted = false
          )
        GROUP BY s.family, s.code, s.source
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("pending_deletions", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_deletions_source")
    op.drop_table("pending_deletions")
    with op.batch_alter_table("pim_owners", schema=None) as batch_op:
        batch_op.drop_index("ix_pim_owners_source_family")
    op.drop_table("pim_owners")
