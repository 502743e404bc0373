"""Typed SQLAlchemy models, one module per aggregate. Importing this package registers
every model on ``db.metadata`` (Alembic's autogenerate relies on it)."""

from roko_app.models.inbound import InboundDiscrepancy, InboundSms

__all__ = ["InboundDiscrepancy", "InboundSms"]
