"""event_inbox: the durable inbox of DAM events (webhooks and broker messages)

One row per asset of each received event (source, event id, asset id, changed or deleted, where
it came in, when), written before the event is acknowledged. ``UNIQUE(source, event_id, dam_id)``
makes a redelivered event a duplicate. Consumers claim pending rows (``claimed_by`` until
``claimed_until``); a row ends ``done``, or ``dead`` after too many attempts, with ``last_error``
redacted, and settled rows are pruned after a retention period. There is no payload column: an
event is a hint (the assets are re-read from the DAM), and bodies may hold secrets.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False, comment="the dedupe key"),
        sa.Column("dam_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "attempts",
            sa.Integer(),
            nullable=False,
            comment="claims so far, the current one included",
        ),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="a pending row is due then",
        ),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column(
            "claimed_until",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="an expired claim is taken over",
        ),
        sa.Column("last_error", sa.Text(), nullable=True, comment="redacted and truncated"),
        sa.Column(
            "done_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="when it became done or dead",
        ),
        sa.CheckConstraint("kind IN ('changed', 'deleted')", name=op.f("ck_event_inbox_kind")),
        sa.CheckConstraint(
            "origin IN ('webhook', 'rabbitmq', 'nats')", name=op.f("ck_event_inbox_origin")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'claimed', 'done', 'dead')", name=op.f("ck_event_inbox_status")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_event_inbox_attempts")),
        sa.CheckConstraint(
            "(status = 'claimed') = (claimed_until IS NOT NULL)",
            name=op.f("ck_event_inbox_claim_complete"),
        ),
        sa.CheckConstraint(
            "(status IN ('done', 'dead')) = (done_at IS NOT NULL)",
            name=op.f("ck_event_inbox_done_complete"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_inbox")),
        sa.UniqueConstraint(
            "source",
            "event_id",
            "dam_id",
            name=op.f("uq_event_inbox_source_event_id_dam_id"),
        ),
    )
    with op.batch_alter_table("event_inbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_inbox_source_status_received_at",
            ["source", "status", "received_at"],
            unique=False,
        )
        batch_op.create_index("ix_event_inbox_status_done_at", ["status", "done_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_event_inbox_status_done_at")
        batch_op.drop_index("ix_event_inbox_source_status_received_at")
    op.drop_table("event_inbox")
