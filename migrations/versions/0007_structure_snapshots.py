"""structure_snapshots and dam_clock_readings: what a new process may reuse instead of asking

``structure_snapshots``: per PIM (its base URL without credentials, query or fragment) and asset
family, the JSON of the structure read (attributes, option codes, main media, labels) and when;
``body`` NULL records a family the PIM said does not exist; one ``channels`` row per PIM. A
process loads the rows younger than ``runtime.structure_ttl`` instead of reading the PIM.
Nothing secret is stored.

``dam_clock_readings``: per source, the DAM's time in its latest listing answer, with the
reader's monotonic clock and host boot id when it arrived, so that the next process on the same
host and boot (cron's ``sync --once``) plans its window without a clock probe while the reading
is younger than ``rest.clock_anchor_max_age``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "structure_snapshots",
        sa.Column(
            "pim",
            sa.String(length=500),
            nullable=False,
            comment="the PIM's identity: its base URL without credentials, query or fragment",
        ),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column(
            "code",
            sa.String(length=255),
            nullable=False,
            comment="the family code; '' for channels",
        ),
        sa.Column(
            "body", sa.Text(), nullable=True, comment="JSON of what was read; NULL: family missing"
        ),
        sa.Column(
            "read_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when the PIM was read (TTL)",
        ),
        sa.CheckConstraint(
            "kind IN ('family', 'channels')", name=op.f("ck_structure_snapshots_kind")
        ),
        sa.CheckConstraint(
            "kind = 'family' OR body IS NOT NULL",
            name=op.f("ck_structure_snapshots_channels_body"),
        ),
        sa.PrimaryKeyConstraint("pim", "kind", "code", name=op.f("pk_structure_snapshots")),
    )
    op.create_table(
        "dam_clock_readings",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column(
            "dam_time",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="the DAM's time in an answer",
        ),
        sa.Column(
            "monotonic",
            sa.Double(),
            nullable=False,
            comment="the reader's monotonic clock when that answer arrived",
        ),
        sa.Column(
            "boot_id",
            sa.String(length=64),
            nullable=False,
            comment="the reader host's boot: monotonic clocks compare within one boot only",
        ),
        sa.Column(
            "read_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="wall clock, for people only",
        ),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_dam_clock_readings")),
    )


def downgrade() -> None:
    op.drop_table("dam_clock_readings")
    op.drop_table("structure_snapshots")
