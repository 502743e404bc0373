"""accounts: login locks and unlocks

app_user.login_unlocked_at: when an admin last unlocked the account; failed
log-ins before it no longer count towards the account's locks.

Revision ID: a3f1c9e2d4b7
Revises: 549dd9ccb01f
Create Date: 2026-11-26 03:50:00

"""
import sqlalchemy as sa
from alembic import op

import roko_app.database.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = 'a3f1c9e2d4b7'
down_revision = '549dd9ccb01f'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('app_user', sa.Column('login_unlocked_at', roko_app.database.types.UTCDateTime(timezone=True),
                                        nullable=True))


def downgrade():
    with op.batch_alter_table('app_user') as batch_op:
        batch_op.drop_column('login_unlocked_at')
