"""the opt-in reply, the STOP confirmation announces it; forced password change

Issue 13: texting START or DÉBUT re-subscribes an opted-out number (outcome OPT_IN). Its
reply template is seeded, and the OPT_OUT confirmation, if nobody edited it, now says how
to come back. An account can be told to change its password at next log-in (after an
admin reset it): app_user.must_change_password, a plain add_column.

Revision ID: e13c0a5e7f21
Revises: c5e8a1b3d9f2
Create Date: 2026-11-26 04:50:00

"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import roko_app.database.types

# revision identifiers, used by Alembic.
revision = 'e13c0a5e7f21'
down_revision = 'c5e8a1b3d9f2'
branch_labels = None
depends_on = None

_template = sa.table("reply_template", sa.column("key", sa.String), sa.column("text", sa.String),
                     sa.column("updated_at", roko_app.database.types.UTCDateTime()), sa.column("updated_by", sa.String))

OPT_IN = ("Vous recevez de nouveau les messages de la campagne ROKO. Envoyez ROKO + code pour participer, "
          "ou STOP pour ne plus en recevoir.")
OPT_OUT_BEFORE = ("Vous ne recevrez plus de messages de la campagne ROKO. Vos participations restent valables. "
                  "Envoyez ROKO + code pour participer.")
OPT_OUT_AFTER = ("Vous ne recevrez plus de messages de la campagne ROKO. Vos participations restent valables. "
                 "Envoyez START pour vous réabonner.")


def upgrade():
    op.add_column("app_user", sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    bind = op.get_bind()
    if bind.execute(sa.select(_template.c.key).where(_template.c.key == "OPT_IN")).first() is None:
        op.bulk_insert(_template, [{"key": "OPT_IN", "text": OPT_IN, "updated_at": datetime.now(UTC),
                                    "updated_by": "seed"}])
    _replace_opt_out(OPT_OUT_BEFORE, OPT_OUT_AFTER)


def downgrade():
    op.execute(_template.delete().where(_template.c.key == "OPT_IN"))
    _replace_opt_out(OPT_OUT_AFTER, OPT_OUT_BEFORE)
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.drop_column("must_change_password")


def _replace_opt_out(old, new):
    """Only the untouched default: an operator's own wording stays."""
    op.execute(_template.update().where(_template.c.key == "OPT_OUT", _template.c.text == old)
               .values(text=new))
