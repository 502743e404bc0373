"""Typed SQLAlchemy models, one module per aggregate. Importing this package registers
every model on ``db.metadata`` (Alembic's autogenerate relies on it)."""

from roko_app.models import lucky_draw  # noqa: F401  (registers the draw models)
from roko_app.models.accounts import AuditEvent, LoginFailure, Role, User
from roko_app.models.api_key import ApiKey
from roko_app.models.callback import CallbackState, OptimoveCallback
from roko_app.models.campaign import CampaignBatch, CampaignRejection
from roko_app.models.draw import Code, Entry, Outcome, Participant, ReplyTemplate
from roko_app.models.inbound import InboundDiscrepancy, InboundSms
from roko_app.models.outbound import DeliveryReport, OutboundSms, OutboundStatus, Priority, Purpose

__all__ = [
    "ApiKey", "AuditEvent", "CallbackState", "CampaignBatch", "CampaignRejection", "Code", "DeliveryReport", "Entry",
    "InboundDiscrepancy", "InboundSms", "LoginFailure", "Outcome", "OptimoveCallback", "OutboundSms", "OutboundStatus",
    "Participant", "Priority", "Purpose", "ReplyTemplate", "Role", "User",
]
