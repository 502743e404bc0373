"""draws: claim deadlines and the winner template

Reserved for issue 11; filled in by the change that needs it (an empty
migration changes nothing).

Revision ID: b7d2e4f6a8c1
Revises: a3f1c9e2d4b7
Create Date: 2026-11-26 03:50:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import roko_app.database.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = 'b7d2e4f6a8c1'
down_revision = 'a3f1c9e2d4b7'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
