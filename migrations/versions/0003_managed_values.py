"""asset_states.managed_values: the values damsync wrote in each PIM asset

The keys (``attr|locale|channel``, a sorted JSON list) of the values damsync manages in the PIM
asset, written in the batch commit with the asset. A value the DAM no longer gives is erased on
the next write. Rows written before this revision keep NULL ("unknown"): they erase nothing on
their first write after it, which records their keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("asset_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "managed_values",
                sa.Text(),
                nullable=True,
                comment="JSON list of the attr|locale|channel values damsync wrote; NULL: unknown",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("asset_states", schema=None) as batch_op:
        batch_op.drop_column("managed_values")
