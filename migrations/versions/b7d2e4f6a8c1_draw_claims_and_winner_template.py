"""draws: claim deadlines and the winner template

Each notified prize gets the last moment it can be claimed (``claim_deadline``). The
WINNER template needs no column: it is a ``reply_template`` row, its built-in default
used until an operator saves one.

Revision ID: b7d2e4f6a8c1
Revises: a3f1c9e2d4b7
Create Date: 2026-11-26 03:50:00

"""
import sqlalchemy as sa
from alembic import op

import roko_app.database.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = 'b7d2e4f6a8c1'
down_revision = 'a3f1c9e2d4b7'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('lucky_draw_pick', sa.Column('claim_deadline', roko_app.database.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column('lucky_draw_pick', 'claim_deadline')
