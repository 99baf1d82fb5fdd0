"""product_link_wants, product_links: direct product links (issue 17)

``product_link_wants``: the product collections each written asset should be in, per link rule
of its family: staged before the asset's PIM write, turned ``ready`` in the batch's own commit
transaction, deleted once written to the products (a crash in between resumes them).
``product_links``: which asset codes damsync put into which product collection (product,
attribute, locale, scope), so codes damsync did not add are never dropped and a withdrawn asset
leaves exactly the collections damsync put it in.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_link_wants",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("dam_id", sa.String(length=512), nullable=False),
        sa.Column(
            "rule", sa.Integer(), nullable=False, comment="index in the family's product_links"
        ),
        sa.Column(
            "state",
            sa.String(length=10),
            nullable=False,
            comment="staged before the asset write; ready once its batch committed",
        ),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("asset_code", sa.String(length=255), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False, comment="add or replace"),
        sa.Column("placement", sa.String(length=10), nullable=False, comment="first or last"),
        sa.Column(
            "targets", sa.Text(), nullable=False, comment="JSON: the product collections wanted"
        ),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('staged', 'ready')", name=op.f("ck_product_link_wants_state")
        ),
        sa.CheckConstraint("mode IN ('add', 'replace')", name=op.f("ck_product_link_wants_mode")),
        sa.CheckConstraint(
            "placement IN ('first', 'last')", name=op.f("ck_product_link_wants_placement")
        ),
        sa.PrimaryKeyConstraint(
            "source", "dam_id", "rule", "state", name=op.f("pk_product_link_wants")
        ),
    )
    op.create_table(
        "product_links",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False, comment="product or product_model"),
        sa.Column(
            "product", sa.String(length=255), nullable=False, comment="identifier or model code"
        ),
        sa.Column("attribute", sa.String(length=100), nullable=False),
        sa.Column(
            "locale", sa.String(length=20), nullable=False, comment="'' when not localizable"
        ),
        sa.Column("scope", sa.String(length=100), nullable=False, comment="'' when not scopable"),
        sa.Column("asset_code", sa.String(length=255), nullable=False),
        sa.Column("rule", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=100), nullable=False),
        sa.Column("dam_id", sa.String(length=512), nullable=False),
        sa.Column(
            "position",
            sa.Double(),
            nullable=True,
            comment="lower first; NULL after those with one",
        ),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('product', 'product_model')", name=op.f("ck_product_links_kind")
        ),
        sa.PrimaryKeyConstraint(
            "source",
            "kind",
            "product",
            "attribute",
            "locale",
            "scope",
            "asset_code",
            "rule",
            name=op.f("pk_product_links"),
        ),
    )
    with op.batch_alter_table("product_links", schema=None) as batch_op:
        batch_op.create_index("ix_product_links_source_dam_id", ["source", "dam_id"])
        batch_op.create_index("ix_product_links_source_family", ["source", "family", "asset_code"])


def downgrade() -> None:
    with op.batch_alter_table("product_links", schema=None) as batch_op:
        batch_op.drop_index("ix_product_links_source_family")
        batch_op.drop_index("ix_product_links_source_dam_id")
    op.drop_table("product_links")
    op.drop_table("product_link_wants")
