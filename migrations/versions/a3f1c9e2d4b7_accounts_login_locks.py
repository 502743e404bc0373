"""accounts: login locks and unlocks

Reserved for issue 12; filled in by the change that needs it (an empty
migration changes nothing).

Revision ID: a3f1c9e2d4b7
Revises: 549dd9ccb01f
Create Date: 2026-11-26 03:50:00

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import roko_app.database.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = 'a3f1c9e2d4b7'
down_revision = '549dd9ccb01f'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
