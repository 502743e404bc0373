"""outbound_sms.purpose: why each message is sent, for the consent check at send time

Issue 13: a message queued before its number texted STOP must not go out afterwards
unless the number still gets it (an answer to its own SMS, a winner notice). The worker
checks the purpose when it claims the message, so the purpose is stored on the row.

Existing rows, from what they already say: an answer to an SMS (``reply_to_sms_id``) is
REPLY; a draw's winner notice (linked from ``lucky_draw_pick.outbound_sms_id``, or
written by a draw with the WINNER template) is WINNER_NOTICE; a campaign batch's message
is CAMPAIGN; the rest (the send API, the console) OPERATOR, which is also the server
default: a row written without a purpose is never sent to an opted-out number.

Revision ID: 9232f266ea23
Revises: e13c0a5e7f21
Create Date: 2026-11-26 07:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '9232f266ea23'
down_revision = 'e13c0a5e7f21'
branch_labels = None
depends_on = None

_outbound = sa.table("outbound_sms", sa.column("id", sa.BigInteger), sa.column("purpose", sa.String),
                     sa.column("reply_to_sms_id", sa.BigInteger), sa.column("campaign_batch_id", sa.BigInteger),
                     sa.column("template_key", sa.String), sa.column("caller", sa.String))
_pick = sa.table("lucky_draw_pick", sa.column("outbound_sms_id", sa.BigInteger))


def upgrade():
    op.add_column("outbound_sms", sa.Column("purpose", sa.String(length=16), nullable=False,
                                            server_default="OPERATOR"))
    notified = sa.select(_pick.c.outbound_sms_id).where(_pick.c.outbound_sms_id.is_not(None))
    winner_notice = sa.or_(_outbound.c.id.in_(notified),
                           sa.and_(_outbound.c.template_key == "WINNER", _outbound.c.caller.like("draw:%")))
    # In this order: a row matching two rules keeps the first (a reply is a reply).
    op.execute(_outbound.update().where(_outbound.c.reply_to_sms_id.is_not(None)).values(purpose="REPLY"))
    op.execute(_outbound.update().where(_outbound.c.purpose == "OPERATOR", winner_notice)
               .values(purpose="WINNER_NOTICE"))
    op.execute(_outbound.update().where(_outbound.c.purpose == "OPERATOR", _outbound.c.campaign_batch_id.is_not(None))
               .values(purpose="CAMPAIGN"))


def downgrade():
    op.drop_column("outbound_sms", "purpose")
