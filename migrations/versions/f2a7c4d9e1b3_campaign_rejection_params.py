"""a refused campaign recipient's detail as parameters, so the console can say it in French

campaign_rejection.params (JSON, nullable): the machine form of ``detail`` (the number's
problem, or the text's units, encoding and limit). Rows stored before keep only their
English ``detail``, which the console still shows as it was logged.

Revision ID: f2a7c4d9e1b3
Revises: 9232f266ea23
Create Date: 2026-11-26 15:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f2a7c4d9e1b3'
down_revision = '9232f266ea23'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("campaign_rejection", sa.Column("params", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("campaign_rejection") as batch_op:
        batch_op.drop_column("params")
