"""delivery reports and the Optimove callbacks

Reserved for issue 14; filled in by the change that needs it (an empty
migration changes nothing).

Revision ID: c5e8a1b3d9f2
Revises: b7d2e4f6a8c1
Create Date: 2026-11-26 03:50:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import roko_app.database.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = 'c5e8a1b3d9f2'
down_revision = 'b7d2e4f6a8c1'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
