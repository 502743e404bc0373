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
    _swap_index(create=("ix_outbound_sms_queue", ['status', 'priority', 'next_attempt_at', 'id']), drop="ix_outbound_sms_due")


def downgrade():
    _swap_index(create=("ix_outbound_sms_due", ['status', 'next_attempt_at', 'priority']), drop="ix_outbound_sms_queue")


def _swap_index(create, drop):
    """On PostgreSQL the index is built and the old one dropped CONCURRENTLY (outside a
    transaction), so a live campaign's writes to outbound_sms are not blocked meanwhile."""
    name, columns = create
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(name, "outbound_sms", columns, postgresql_concurrently=True, if_not_exists=True)
            op.drop_index(drop, table_name="outbound_sms", postgresql_concurrently=True, if_exists=True)
        return
    op.create_index(name, "outbound_sms", columns)
    op.drop_index(drop, table_name="outbound_sms")
