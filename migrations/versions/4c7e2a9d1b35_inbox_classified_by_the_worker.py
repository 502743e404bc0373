"""the inbox: inbound SMS are classified by the worker

Adds the classification state of an inbound SMS (classified_at, failed tries, last
error, next try, parked) and the classifier's queue index. Every SMS stored before this
revision was classified in its own request and has its entry: it is marked classified
at its entry's time, so nothing is classified twice.

Revision ID: 4c7e2a9d1b35
Revises: 9c41d7e2b5f0
Create Date: 2026-11-26 00:10:00

"""
from alembic import op
import sqlalchemy as sa

import roko_app.database.types


revision = '4c7e2a9d1b35'
down_revision = '9c41d7e2b5f0'
branch_labels = None
depends_on = None

_UNCLASSIFIED = sa.text("classified_at IS NULL")
_FOREIGN = sa.text("sender_msisdn IS NULL")


def upgrade():
    # Plain ADD COLUMN on both backends: no table copy (SQLite's batch mode would drop a
    # table that entry rows reference), and a cheap change on a large PostgreSQL table.
    op.add_column('inbound_sms', sa.Column('classified_at', roko_app.database.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('inbound_sms', sa.Column('classify_attempts', sa.Integer(), server_default='0', nullable=False))
    op.add_column('inbound_sms', sa.Column('classify_error', sa.String(length=500), nullable=True))
    op.add_column('inbound_sms', sa.Column('classify_after', roko_app.database.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('inbound_sms', sa.Column('parked_at', roko_app.database.types.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE inbound_sms SET classified_at = (SELECT entry.created_at FROM entry WHERE entry.sms_id = inbound_sms.id)")
    op.create_index('ix_inbound_sms_unclassified', 'inbound_sms', ['id'], unique=False,
                    postgresql_where=_UNCLASSIFIED, sqlite_where=_UNCLASSIFIED)
    op.create_index('ix_inbound_sms_foreign_sender', 'inbound_sms', ['sender'], unique=False,
                    postgresql_where=_FOREIGN, sqlite_where=_FOREIGN)


def downgrade():
    op.drop_index('ix_inbound_sms_foreign_sender', table_name='inbound_sms')
    op.drop_index('ix_inbound_sms_unclassified', table_name='inbound_sms')
    for column in ('parked_at', 'classify_after', 'classify_error', 'classify_attempts', 'classified_at'):
        op.drop_column('inbound_sms', column)
