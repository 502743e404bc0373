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
    _swap_index(create=("ix_entry_participant_created", ['participant_id', 'created_at']), drop="ix_entry_participant_id")


def downgrade():
    _swap_index(create=("ix_entry_participant_id", ['participant_id']), drop="ix_entry_participant_created")


def _swap_index(create, drop):
    """On PostgreSQL the index is built and the old one dropped CONCURRENTLY (outside a
    transaction), so a live campaign's writes to entry are not blocked meanwhile."""
    name, columns = create
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(name, "entry", columns, postgresql_concurrently=True, if_not_exists=True)
            op.drop_index(drop, table_name="entry", postgresql_concurrently=True, if_exists=True)
        return
    op.create_index(name, "entry", columns)
    op.drop_index(drop, table_name="entry")
