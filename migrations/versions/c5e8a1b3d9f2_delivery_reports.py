"""delivery reports and the Optimove callbacks

Issue 14: the outbox learns delivery (delivered_at, delivery_reason), remembers when an
attempt may have gone out (maybe_sent), gets an index for the no-report sweep, and every
report the gateway posts is kept (delivery_report). The status column widens to 12
characters for UNDELIVERED (PostgreSQL only: SQLite does not enforce VARCHAR lengths).
The Optimove callbacks outbox (optimove_callback), and the status last reported to
Optimove for each campaign message (outbound_sms.optimove_reported).
Plain add_column and create_table: no batch mode on outbound_sms, which others reference.

Revision ID: c5e8a1b3d9f2
Revises: b7d2e4f6a8c1
Create Date: 2026-11-26 03:50:00

"""
import sqlalchemy as sa
from alembic import op

import roko_app.database.types  # noqa: F401  (custom column types)

# revision identifiers, used by Alembic.
revision = 'c5e8a1b3d9f2'
down_revision = 'b7d2e4f6a8c1'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("outbound_sms", "status", type_=sa.String(12), existing_type=sa.String(10),
                        existing_nullable=False)
    op.add_column("outbound_sms", sa.Column("delivered_at", roko_app.database.types.UTCDateTime(), nullable=True))
    op.add_column("outbound_sms", sa.Column("delivery_reason", sa.String(200), nullable=True))
    op.add_column("outbound_sms", sa.Column("maybe_sent", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_outbound_sms_status_sent", "outbound_sms", ["status", "sent_at"], unique=False)
    op.create_table(
        "delivery_report",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_ref", sa.String(64), nullable=False),
        sa.Column("outbound_sms_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("gateway_sms_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("at", roko_app.database.types.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("received_at", roko_app.database.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["outbound_sms_id"], ["outbound_sms.id"], name=op.f("fk_delivery_report_outbound_sms_id_outbound_sms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_report")),
    )
    op.create_index(op.f("ix_delivery_report_outbound_sms_id"), "delivery_report", ["outbound_sms_id"], unique=False)
    op.add_column("outbound_sms", sa.Column("optimove_reported", sa.String(12), nullable=True))
    op.create_table(
        "optimove_callback",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", roko_app.database.types.UTCDateTime(), nullable=False),
        sa.Column("last_status", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
        sa.Column("outbound_sms_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("inbound_sms_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", roko_app.database.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", roko_app.database.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["outbound_sms_id"], ["outbound_sms.id"],
                                name=op.f("fk_optimove_callback_outbound_sms_id_outbound_sms")),
        sa.ForeignKeyConstraint(["inbound_sms_id"], ["inbound_sms.id"],
                                name=op.f("fk_optimove_callback_inbound_sms_id_inbound_sms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optimove_callback")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_optimove_callback_idempotency_key")),
        sa.UniqueConstraint("inbound_sms_id", name=op.f("uq_optimove_callback_inbound_sms_id")),
    )
    op.create_index("ix_optimove_callback_due", "optimove_callback", ["state", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_optimove_callback_outbound_sms_id"), "optimove_callback", ["outbound_sms_id"],
                    unique=False)


def downgrade():
    op.drop_index(op.f("ix_optimove_callback_outbound_sms_id"), table_name="optimove_callback")
    op.drop_index("ix_optimove_callback_due", table_name="optimove_callback")
    op.drop_table("optimove_callback")
    op.drop_column("outbound_sms", "optimove_reported")
    op.drop_index(op.f("ix_delivery_report_outbound_sms_id"), table_name="delivery_report")
    op.drop_table("delivery_report")
    op.drop_index("ix_outbound_sms_status_sent", table_name="outbound_sms")
    # SQLite: DROP COLUMN needs 3.35 (plain, no batch mode on a referenced table).
    op.drop_column("outbound_sms", "maybe_sent")
    op.drop_column("outbound_sms", "delivery_reason")
    op.drop_column("outbound_sms", "delivered_at")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("outbound_sms", "status", type_=sa.String(10), existing_type=sa.String(12),
                        existing_nullable=False)
