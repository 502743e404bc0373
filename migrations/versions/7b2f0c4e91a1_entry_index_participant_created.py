"""entry index (participant_id, created_at) for the blocking rule's count

The count of a number's failures within the window used ``ix_entry_outcome_created`` on
SQLite, i.e. it scanned every failure of the whole campaign in that window on each
failed SMS. The two-column index answers it from the number's own entries, and replaces
the single-column ``ix_entry_participant_id`` (its prefix).

Revision ID: 7b2f0c4e91a1
Revises: d5cbe9a2322c
Create Date: 2026-11-22 15:40:00

"""
from alembic import op


revision = '7b2f0c4e91a1'
down_revision = 'd5cbe9a2322c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('entry', schema=None) as batch_op:
        batch_op.create_index('ix_entry_participant_created', ['participant_id', 'created_at'], unique=False)
        batch_op.drop_index('ix_entry_participant_id')


def downgrade():
    with op.batch_alter_table('entry', schema=None) as batch_op:
        batch_op.create_index('ix_entry_participant_id', ['participant_id'], unique=False)
        batch_op.drop_index('ix_entry_participant_created')
