"""source_configs: the mapping each source's failures were judged against

A changed mapping gives permanent (validation) failures a new chance: the daemon compares the
stored hash with the running configuration's at start and on reload.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "source_configs",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column(
            "mapping_hash",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the mapping rules the failures were judged against",
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_source_configs")),
    )


def downgrade() -> None:
    op.drop_table("source_configs")
