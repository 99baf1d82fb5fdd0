"""failure_attempts: the trail of each failed asset's attempts

One row per failed attempt of an asset (attempt number, stage, error type, the full reason as the
engine recorded it, when, and the run), written in the batch commit that records the failure.
Only the last 20 attempts of an asset are kept; the trail is deleted with its failure (resolved
by a write, or forgotten). Failures open before this revision start their trail at their next
attempt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "failure_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("dam_id", sa.String(length=500), nullable=False),
        sa.Column(
            "attempt",
            sa.Integer(),
            nullable=False,
            comment="1, 2, ... per open failure of the asset",
        ),
        sa.Column("stage", sa.String(length=50), nullable=False),
        sa.Column("error_type", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name=op.f("fk_failure_attempts_run_id_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_attempts")),
        sa.UniqueConstraint(
            "source",
            "dam_id",
            "attempt",
            name=op.f("uq_failure_attempts_source_dam_id_attempt"),
        ),
    )


def downgrade() -> None:
    op.drop_table("failure_attempts")
