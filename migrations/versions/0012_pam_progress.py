"""pam_file_keys, pam_media, pam_assets: the progress of damsync migrate-pam (issue 18)

A migration from the legacy PAM records, per target PIM (its configured name): each file key's
content hash (a re-run downloads nothing it already hashed), each content's uploaded media file
code (a content is uploaded once, whatever the number of keys or runs) and each asset written
with the fingerprint of what was written (a re-run skips it while the PAM gives the same).

Downgrade drops the three tables: a later migration then starts from the beginning (assets are
upserted, so nothing is duplicated in the PIM, but binaries are uploaded again).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 08:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PIM = "the target PIM's configured name"


def upgrade() -> None:
    op.create_table(
        "pam_file_keys",
        sa.Column("pim", sa.String(length=200), nullable=False, comment=PIM),
        sa.Column("key", sa.String(length=700), nullable=False, comment="a legacy PAM file key"),
        sa.Column(
            "checksum", sa.String(length=64), nullable=False, comment="SHA-256 of its content"
        ),
        sa.PrimaryKeyConstraint("pim", "key", name=op.f("pk_pam_file_keys")),
    )
    op.create_table(
        "pam_media",
        sa.Column("pim", sa.String(length=200), nullable=False, comment=PIM),
        sa.Column(
            "checksum",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of an uploaded content",
        ),
        sa.Column("code", sa.Text(), nullable=False, comment="its Asset Manager media file code"),
        sa.PrimaryKeyConstraint("pim", "checksum", name=op.f("pk_pam_media")),
    )
    op.create_table(
        "pam_assets",
        sa.Column("pim", sa.String(length=200), nullable=False, comment=PIM),
        sa.Column("family", sa.String(length=255), nullable=False, comment="the asset family"),
        sa.Column("code", sa.String(length=255), nullable=False, comment="the asset code"),
        sa.Column(
            "fingerprint",
            sa.String(length=64),
            nullable=False,
            comment="hash of what was written",
        ),
        sa.PrimaryKeyConstraint("pim", "family", "code", name=op.f("pk_pam_assets")),
    )


def downgrade() -> None:
    op.drop_table("pam_assets")
    op.drop_table("pam_media")
    op.drop_table("pam_file_keys")
