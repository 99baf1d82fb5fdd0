"""sync_replicas: the replicas of one database and their heartbeats

Every ``damsync run`` writes one row (its lease holder name ``host:pid:starttime``) and renews
its expiry on the database clock at each heartbeat. On PostgreSQL the live rows tell each
replica how many share the sources (none takes more than its share while another has none);
on SQLite a second live process is refused at start. Rows of dead replicas are deleted by the
next heartbeat of any replica.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 07:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_replicas",
        sa.Column(
            "replica", sa.String(length=200), nullable=False, comment="its lease holder name"
        ),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="first heartbeat (DB clock)",
        ),
        sa.Column(
            "seen_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="last heartbeat (DB clock)",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="dead after this (DB clock)",
        ),
        sa.PrimaryKeyConstraint("replica", name=op.f("pk_sync_replicas")),
    )


def downgrade() -> None:
    op.drop_table("sync_replicas")
