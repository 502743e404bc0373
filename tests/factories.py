"""Row builders for tests. Those taking an ``app`` open their own app context and
commit; the others add to the current session (inside an app context) and flush, so
the caller commits when it wants to."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import (
    AuditEvent,
    CampaignBatch,
    Entry,
    InboundSms,
    OutboundSms,
    OutboundStatus,
    Participant,
    Priority,
)
from roko_app.services import accounts, api_keys

T0 = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
# The worker tests' clock (tests/worker/conftest.py, ``frozen``).
T0_WORKER = datetime(2026, 5, 15, 10, 0, tzinfo=UTC)
# The password of the users make_user creates.
PASSWORD = "correct horse battery"
_gateway_ids = itertools.count(1)
_batch_ids = itertools.count(1)


# --------------------------------------------------------------------------- accounts and keys


def make_user(app: Any, email: str, role: str, password: str = PASSWORD) -> None:
    with app.app_context():
        accounts.create_user(email, role, password)
        db.session.commit()


def issue_key(app: Any, name: str = "ops-dashboard") -> str:
    """A new API key named ``name``; the key itself."""
    with app.app_context():
        _, key = api_keys.create(name)
        db.session.commit()
    return key


# --------------------------------------------------------------------------- SMS, entries, participants


def add_participant(msisdn: str, **values: Any) -> Participant:
    participant = db.session.scalars(select(Participant).where(Participant.msisdn == msisdn)).one_or_none()
    if participant is None:
        participant = Participant(msisdn=msisdn, first_seen_at=values.pop("first_seen_at", T0), valid_entries=0)
        db.session.add(participant)
    for name, value in values.items():
        setattr(participant, name, value)
    db.session.flush()
    return participant


def add_sms(sender: str, text: str, at: datetime, *, guinea: bool = True, classified: bool = False) -> InboundSms:
    """A stored inbound SMS, still to classify unless ``classified``."""
    sms = InboundSms(gateway_sms_id=next(_gateway_ids), port=17, sender=sender,
                     sender_msisdn=sender if guinea else None, text=text, gateway_timestamp=at, received_at=at,
                     source="topaz", classified_at=at if classified else None)
    db.session.add(sms)
    db.session.flush()
    return sms


def add_entry(msisdn: str, outcome: str, at: datetime, *, code: str | None = None, chances: int = 0,
              text: str | None = None, guinea: bool = True) -> Entry:
    """An inbound SMS and its entry, as classification would have stored them."""
    participant = add_participant(msisdn)
    sms = add_sms(msisdn, text if text is not None else f"ROKO {code or 'hello'}", at, guinea=guinea, classified=True)
    entry = Entry(sms_id=sms.id, participant_id=participant.id, msisdn=msisdn, outcome=outcome, code=code,
                  chances=chances, created_at=at)
    db.session.add(entry)
    db.session.flush()
    return entry

def add_entries_at_equal_times() -> list[int]:
    """13 entries, 7 of them at the same instant (the id decides); their ids newest first."""
    rows = [add_entry(f"6100000{i:02d}", "VALID_FIRST" if i % 2 else "BAD_FORMAT",
                      T0 + timedelta(seconds=i if i < 3 or i > 9 else 5)) for i in range(13)]
    return [e.id for e in sorted(rows, key=lambda e: (e.created_at, e.id), reverse=True)]


def add_outbound(to: str, text: str, at: datetime, *, status: str = "SENT", attempts: int = 1,
                 last_error: str | None = None, reply_to: int | None = None) -> OutboundSms:
    message = OutboundSms(to_msisdn=to, text=text, encoding="GSM-7", units=len(text), status=status, priority=10,
                          port=17, caller="auto-reply", attempts=attempts, last_error=last_error,
                          next_attempt_at=at, reply_to_sms_id=reply_to, created_at=at, updated_at=at,
                          sent_at=at + timedelta(seconds=2) if status == "SENT" else None)
    db.session.add(message)
    db.session.flush()
    return message


def bulk_queue(app: Any, count: int = 1, *, priority: int = Priority.BULK, port: int = 17,
               not_before: datetime | None = None, now: datetime | None = None) -> list[int]:
    """Insert ``count`` QUEUED rows in one statement (as a campaign would); their ids."""
    now = now or utcnow()
    due = max(not_before, now) if not_before else now
    rows = [{"to_msisdn": f"62{i:07d}", "text": f"Merci pour votre participation ROKO. {i}", "encoding": "GSM-7",
             "units": 40, "status": OutboundStatus.QUEUED, "priority": priority, "port": port, "template_key": "BULK",
             "caller": "test", "attempts": 0, "not_before": not_before, "next_attempt_at": due,
             "created_at": now, "updated_at": now} for i in range(count)]
    with app.app_context():
        ids = list(db.session.scalars(insert(OutboundSms).returning(OutboundSms.id, sort_by_parameter_order=True),
                                      rows))
        db.session.commit()
    return ids


# --------------------------------------------------------------------------- audit log, campaigns


def add_audit_event(at: datetime, action: str = "test.event", target: str | None = None,
                    actor: str = "cli") -> AuditEvent:
    """An audit event at a chosen time (``accounts.audit`` always records the present)."""
    event = AuditEvent(at=at, actor=actor, action=action, target=target)
    db.session.add(event)
    db.session.flush()
    return event


def add_batch(received_at: datetime, batch_id: str | None = None, *, accepted: int = 0,
              rejected: int = 0) -> CampaignBatch:
    """A campaign batch as intake stores it, without recipients."""
    batch_id = batch_id or f"batch-{next(_batch_ids)}"
    batch = CampaignBatch(batch_key=f"batch:{batch_id}", batch_id=batch_id, scheduled_at=received_at, meta={},
                          body_hash="0" * 64, accepted=accepted, rejected=rejected, received_at=received_at)
    db.session.add(batch)
    db.session.flush()
    return batch



# --------------------------------------------------------------------------- the dashboard's day

DASHBOARD_NOW = datetime(2026, 6, 10, 8, 30, tzinfo=UTC)  # 08:30 in Conakry (UTC+0)
DASHBOARD_LAST_SMS = datetime(2026, 6, 10, 8, 29, 30, tzinfo=UTC)


def add_dashboard_sample() -> None:
    """Entries over four Conakry days around :data:`DASHBOARD_NOW`, an outbox and a last
    SMS, whose figures the dashboard tests know by heart."""
    # yesterday, one microsecond before the Conakry midnight
    add_entry("612345678", "VALID_FIRST", datetime(2026, 6, 9, 23, 59, 59, 999999, tzinfo=UTC), code="U00000001")
    # today: from midnight on
    add_entry("612345678", "VALID_AGAIN", datetime(2026, 6, 10, 0, 0, tzinfo=UTC), code="U00000002")
    add_entry("622334455", "VALID_FIRST", datetime(2026, 6, 10, 8, 0, tzinfo=UTC), code="U00000003")
    add_entry("622334455", "VALID_AGAIN", datetime(2026, 6, 10, 8, 29, tzinfo=UTC), code="U00000004")
    add_entry("622334455", "INVALID_CODE", datetime(2026, 6, 10, 8, 10, tzinfo=UTC), code="U99999999")
    add_entry("633000000", "BAD_FORMAT", datetime(2026, 6, 10, 7, 59, tzinfo=UTC))
    # earlier in the campaign: 24 h and more before the current hour
    add_entry("633000000", "VALID_FIRST", datetime(2026, 6, 9, 8, 59, tzinfo=UTC), code="U00000005")
    add_entry("644000000", "VALID_FIRST", datetime(2026, 6, 9, 9, 0, tzinfo=UTC), code="U00000006")
    add_entry("655000000", "VALID_FIRST", datetime(2026, 6, 7, 12, 0, tzinfo=UTC), code="U00000007")
    add_entry("655000000", "OPT_OUT", datetime(2026, 6, 7, 12, 5, tzinfo=UTC), text="STOP")
    for status, count in (("QUEUED", 2), ("SENDING", 1), ("FAILED", 3), ("SENT", 4)):
        for _ in range(count):
            add_outbound("612345678", "Merci", datetime(2026, 6, 10, 8, 0, tzinfo=UTC), status=status)
    add_sms("612345678", "bonjour", DASHBOARD_LAST_SMS, classified=True)  # the last inbound SMS (its entry left out)


def register_codes(app: Any, *codes: str, batch: str = "LOT-T") -> None:
    """Put ``codes`` in the code registry (committed)."""
    from roko_app.models import Code
    from roko_app.services.code_registry import hash_code

    with app.app_context():
        for code in codes:
            db.session.add(Code(code_hash=hash_code(code, app.config["CODE_KEY"]), batch=batch))
        db.session.commit()


# --------------------------------------------------------------------------- lucky draws

DRAW_FROM = datetime(2026, 6, 1, tzinfo=UTC)
DRAW_UNTIL = datetime(2026, 6, 8, tzinfo=UTC)
DRAW_BEACON_VALUE = "LONAGUI 2026-06-09 01 02 03"


def draw_entrants(people: int = 6, entries_each: int = 2) -> dict[str, list[str]]:
    """Valid entries in the draw window: numbers ``6200000NN``, codes ``U000NN00E``; the
    codes of each number."""
    codes: dict[str, list[str]] = {}
    for entry in range(entries_each):
        for person in range(people):
            msisdn, code = f"6200000{person:02d}", f"U000{person:02d}0{entry:02d}"
            add_entry(msisdn, "VALID_FIRST" if entry == 0 else "VALID_AGAIN",
                      DRAW_FROM + timedelta(hours=1 + person, minutes=entry), code=code)
            codes.setdefault(msisdn, []).append(code)
    return codes


def add_draw(app: Any, state: str = "RUN", *, prizes: tuple[tuple[str, int], ...] = (("Tricycle", 1), ("Sac", 2)),
             alternates: int = 2, people: int = 6) -> tuple[str, dict[str, list[str]]]:
    """A manual-beacon draw over :func:`draw_entrants`, taken to ``state`` (OPEN, CLOSED
    or RUN) and committed; its draw_id and the entrants' codes."""
    from roko_app.services import draws

    with app.app_context():
        codes = draw_entrants(people)
        draw = draws.create_draw(name="Tirage de juin", window_from=DRAW_FROM, window_until=DRAW_UNTIL,
                                 prizes=list(prizes), alternates=alternates,
                                 beacon=draws.parse_beacon("manual:LONAGUI du 9 juin"), actor="admin@roko.test",
                                 now=DRAW_FROM - timedelta(days=1))
        if state in ("CLOSED", "RUN"):
            draws.close_draw(draw.draw_id, actor="cli", now=DRAW_UNTIL + timedelta(hours=1))
        if state == "RUN":
            draws.run_draw(draw.draw_id, actor="cli", value=DRAW_BEACON_VALUE, now=DRAW_UNTIL + timedelta(days=1))
        db.session.commit()
        return draw.draw_id, codes
