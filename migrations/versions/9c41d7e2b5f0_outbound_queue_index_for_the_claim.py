"""outbound index (status, priority, next_attempt_at, id) for the worker's claim

The claim ordered all due rows by priority first, which ``ix_outbound_sms_due (status,
next_attempt_at, priority)`` cannot deliver in order: with a 100,000-recipient campaign
queued, PostgreSQL sorted every due row on each claim (110 ms per claim of 20). The
claim now reads one priority level at a time, in order, from this index.

Revision ID: 9c41d7e2b5f0
Revises: 7b2f0c4e91a1
Create Date: 2026-11-22 16:20:00

"""
from alembic import op


revision = '9c41d7e2b5f0'
down_revision = '7b2f0c4e91a1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_sms_queue', ['status', 'priority', 'next_attempt_at', 'id'], unique=False)
        batch_op.drop_index('ix_outbound_sms_due')


def downgrade():
    with op.batch_alter_table('outbound_sms', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_sms_due', ['status', 'next_attempt_at', 'priority'], unique=False)
        batch_op.drop_index('ix_outbound_sms_queue')
