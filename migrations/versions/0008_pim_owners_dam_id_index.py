"""pim_owners: index (source, dam_id)

Every batch reads the keys its source holds for the batch's DAM ids (``live_keys``). The only
index was (source, family), so each batch scanned all of a family's rows: CPU per asset grew
with the store (a million-asset backfill cost five times the CPU per asset of a 10,000 one).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 05:45:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_pim_owners_source_dam_id", "pim_owners", ["source", "dam_id"])


def downgrade() -> None:
    op.drop_index("ix_pim_owners_source_dam_id", table_name="pim_owners")
