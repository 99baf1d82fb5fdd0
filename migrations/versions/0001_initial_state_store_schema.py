"""initial state store schema: leases, checkpoints, runs, asset states, media files, failures

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:14:47.108261

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('media_files',
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('checksum', sa.String(length=128), nullable=False),
    sa.Column('media_code', sa.String(length=500), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', 'checksum', name=op.f('pk_media_files'))
    )
    op.create_table('sync_checkpoints',
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('epoch', sa.BigInteger(), nullable=False, comment="must equal the writer's lease epoch"),
    sa.Column('cursor_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cursor_id', sa.String(length=500), nullable=True),
    sa.Column('window_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('window_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(cursor_updated_at IS NULL) = (cursor_id IS NULL)', name=op.f('ck_sync_checkpoints_cursor_complete')),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_sync_checkpoints'))
    )
    op.create_table('sync_leases',
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=True, comment='NULL once released'),
    sa.Column('epoch', sa.BigInteger(), nullable=False, comment='fencing token: +1 per holder change'),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False, comment='computed on the DB clock'),
    sa.PrimaryKeyConstraint('source', name=op.f('pk_sync_leases'))
    )
    op.create_table('sync_runs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('seen', sa.Integer(), nullable=False),
    sa.Column('written', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Integer(), nullable=False),
    sa.Column('dead_lettered', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('running', 'success', 'partial', 'failed', 'aborted')", name=op.f('ck_sync_runs_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index('ix_sync_runs_source_started_at', ['source', 'started_at'], unique=False)

    op.create_table('asset_states',
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('dam_id', sa.String(length=500), nullable=False),
    sa.Column('family', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=255), nullable=False),
    sa.Column('content_hash', sa.String(length=128), nullable=False, comment='hash of the last written patch'),
    sa.Column('binary_checksum', sa.String(length=128), nullable=True),
    sa.Column('media_code', sa.String(length=500), nullable=True),
    sa.Column('dam_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('last_synced_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.String(length=200), nullable=True, comment='the PIM request that wrote it'),
    sa.ForeignKeyConstraint(['run_id'], ['sync_runs.id'], name=op.f('fk_asset_states_run_id_sync_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('source', 'dam_id', name=op.f('pk_asset_states'))
    )
    op.create_table('sync_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('dam_id', sa.String(length=500), nullable=False),
    sa.Column('stage', sa.String(length=50), nullable=False),
    sa.Column('error_type', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('permanent', sa.Boolean(), nullable=False),
    sa.Column('dead_lettered', sa.Boolean(), nullable=False),
    sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True, comment='NULL: no blind retry'),
    sa.Column('dam_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['sync_runs.id'], name=op.f('fk_sync_failures_run_id_sync_runs'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_failures')),
    sa.UniqueConstraint('source', 'dam_id', name=op.f('uq_sync_failures_source_dam_id'))
    )
    with op.batch_alter_table('sync_failures', schema=None) as batch_op:
        batch_op.create_index('ix_sync_failures_due', ['source', 'dead_lettered', 'next_attempt_at'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('sync_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_failures_due')

    op.drop_table('sync_failures')
    op.drop_table('asset_states')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_source_started_at')

    op.drop_table('sync_runs')
    op.drop_table('sync_leases')
    op.drop_table('sync_checkpoints')
    op.drop_table('media_files')
