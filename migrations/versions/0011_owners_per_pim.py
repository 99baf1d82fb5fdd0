"""pim_owners, pending_deletions: keyed by PIM (issue 19, one DAM into several PIMs)

A PIM asset is ``(pim, family, code)``: two sources writing the same codes into two PIMs own
them each in their own PIM, and two sources writing one code into ONE PIM are still refused.
``pim`` is the PIM's configured name (``[pims.<name>]``, or ``default`` for ``[pim]``).

Upgrade: ``pim`` is added to ``pim_owners`` (primary key ``(pim, family, code)``) and to
``pending_deletions`` (unique ``(pim, family, code)``); every existing row gets ``default``,
the only PIM before several could be configured. The server default exists only for that
backfill and is dropped. The indexes ``(source, family)`` and ``(source, dam_id)`` stay.

Downgrade: refused, changing nothing, while a ``(family, code)`` is held in more than one PIM
(in either table): the older schema cannot hold both rows, and dropping one would forget a PIM
asset damsync wrote (its withdrawal, its held deletion). Otherwise it drops ``pim`` and restores
the keys of 0010.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 07:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Every row written before this revision was written to the one PIM, ``[pim]``.
BACKFILL = "default"


def upgrade() -> None:
    for table, comment in (
        ("pim_owners", "the PIM's configured name"),
        ("pending_deletions", "the PIM holding the asset"),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "pim",
                    sa.String(length=100),
                    nullable=False,
                    server_default=BACKFILL,
                    comment=comment,
                )
            )
    # A second batch: on SQLite the table is rebuilt from the one the first batch filled.
    with op.batch_alter_table("pim_owners", schema=None) as batch_op:
        batch_op.alter_column("pim", existing_type=sa.String(length=100), server_default=None)
        batch_op.drop_constraint("pk_pim_owners", type_="primary")
        batch_op.create_primary_key("pk_pim_owners", ["pim", "family", "code"])
    with op.batch_alter_table("pending_deletions", schema=None) as batch_op:
        batch_op.alter_column("pim", existing_type=sa.String(length=100), server_default=None)
        batch_op.drop_constraint("uq_pending_deletions_family_code", type_="unique")
        batch_op.create_unique_constraint(
            "uq_pending_deletions_pim_family_code", ["pim", "family", "code"]
        )


def downgrade() -> None:
    conn = op.get_bind()
    for table in ("pim_owners", "pending_deletions"):
        shared = conn.execute(
            sa.text(
                f"SELECT family, code, COUNT(DISTINCT pim) AS pims FROM {table} "
                "GROUP BY family, code HAVING COUNT(DISTINCT pim) > 1 ORDER BY family, code"
            )
        ).all()
        if shared:
            family, code, pims = shared[0]
            raise RuntimeError(
                f"cannot downgrade below 0011: {len(shared)} PIM asset key(s) of {table} are "
                f"held in several PIMs (first: {family}/{code} in {pims} PIMs); revision 0010 "
                "keeps one PIM per family and code"
            )
    with op.batch_alter_table("pending_deletions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_pending_deletions_pim_family_code", type_="unique")
        batch_op.create_unique_constraint("uq_pending_deletions_family_code", ["family", "code"])
        batch_op.drop_column("pim")
    with op.batch_alter_table("pim_owners", schema=None) as batch_op:
        batch_op.drop_constraint("pk_pim_owners", type_="primary")
        batch_op.create_primary_key("pk_pim_owners", ["family", "code"])
        batch_op.drop_column("pim")
