"""Classifying a new inbound SMS into a draw entry, and queueing its French reply.

Runs only for the first delivery of an SMS (``inbound.record`` tells new from replay),
in the same transaction as the SMS row, so an SMS has exactly one entry and at most one
reply (``outbound_sms.reply_to_sms_id`` is unique as a last line of defence).

Order of the rules, for one SMS from one number:

1. ``STOP``/``ARRET``/``ARRÊT`` alone: OPT_OUT (confirmed once; no campaign messages
   any more, entries still count). Works while blocked or outside the campaign.
2. A blocked number: BLOCKED, with no code look-up (codes cannot be guessed by brute
   force); the block was announced by one reply, after which there is silence.
3. Outside the campaign window: CAMPAIGN_NOT_STARTED / CAMPAIGN_CLOSED.
4. No code found: BAD_FORMAT.
5. The code: INVALID_CODE (not registered), DUPLICATE (used by this number already),
   ALREADY_USED (used by another number: a fraud signal, logged with both numbers),
   else VALID_FIRST / VALID_AGAIN (the code becomes used by this number).
6. INVALID_CODE and ALREADY_USED are failed attempts: the one that reaches
   ``BLOCK_AFTER_FAILURES`` within ``BLOCK_WINDOW_HOURS`` blocks the number for
   ``BLOCK_HOURS`` and is answered with the BLOCKED reply instead.

The participant row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
serialises writers), so two SMS from one number are classified one after the other,
and a code is claimed with a conditional ``UPDATE`` so two numbers cannot both win it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from roko_app.database import insert_for
from roko_app.extensions import db
from roko_app.models import Code, Entry, InboundSms, OutboundSms, Outcome, Participant, Priority
from roko_app.models.draw import FAILED_OUTCOMES
from roko_app.models.types import utcnow
from roko_app.services import outbound, replies
from roko_app.services.codes import find_code
from roko_app.sms.codes import parse_message

log = logging.getLogger(__name__)

AUTO_REPLY_CALLER = "auto-reply"


@dataclass(frozen=True, slots=True)
class DrawSettings:
    code_key: str
    keyword: str = "ROKO"
    start: datetime | None = None
    end: datetime | None = None
    block_after_failures: int = 5
    block_window: timedelta = timedelta(hours=24)
    block_duration: timedelta = timedelta(hours=24)

    @classmethod
    def from_config(cls, config: Any) -> DrawSettings:
        return cls(
            code_key=config["CODE_KEY"],
            keyword=config["CAMPAIGN_KEYWORD"],
            start=config.get("CAMPAIGN_START_AT"),
            end=config.get("CAMPAIGN_END_AT"),
            block_after_failures=int(config["BLOCK_AFTER_FAILURES"]),
            block_window=timedelta(hours=float(config["BLOCK_WINDOW_HOURS"])),
            block_duration=timedelta(hours=float(config["BLOCK_HOURS"])),
        )


@dataclass(frozen=True, slots=True)
class Classified:
    entry: Entry
    reply: OutboundSms | None  # None when silence is the answer


def classify(sms: InboundSms, settings: DrawSettings, now: datetime | None = None) -> Classified:
    """Record the entry for a newly stored SMS and queue its reply (flushed, not committed)."""
    now = now or utcnow()
    msisdn = sms.sender_msisdn or sms.sender
    participant = _locked_participant(msisdn, now)
    parsed = parse_message(sms.text, settings.keyword)
    code_row: Code | None = None
    reply_key: str | None = None

    if parsed.kind == "opt_out":
        outcome = Outcome.OPT_OUT
        if participant.opted_out_at is None:
            participant.opted_out_at = now
            reply_key = Outcome.OPT_OUT
    elif participant.blocked_until is not None and now < participant.blocked_until:
        outcome = Outcome.BLOCKED
        if participant.block_notified_at is None:
            participant.block_notified_at = now
            reply_key = Outcome.BLOCKED
    elif settings.start is not None and now < settings.start:
        outcome = reply_key = Outcome.CAMPAIGN_NOT_STARTED
    elif settings.end is not None and now >= settings.end:
        outcome = reply_key = Outcome.CAMPAIGN_CLOSED
    elif parsed.kind != "code" or parsed.code is None:
        outcome = reply_key = Outcome.BAD_FORMAT
    else:
        outcome, code_row = _check_code(parsed.code, participant, settings, now)
        reply_key = outcome
        if outcome in FAILED_OUTCOMES and _reaches_block(participant, settings, now):
            participant.blocked_until = now + settings.block_duration
            participant.block_notified_at = now
            reply_key = Outcome.BLOCKED
            log.warning("participant %s blocked until %s after %s failed attempts",
                        participant.id, participant.blocked_until, settings.block_after_failures)

    entry = Entry(sms_id=sms.id, participant_id=participant.id, msisdn=msisdn, outcome=outcome,
                  code=parsed.code if parsed.kind == "code" and outcome not in _NO_CODE_OUTCOMES else None,
                  code_id=code_row.id if code_row is not None else None,
                  chances=participant.valid_entries, created_at=now)
    db.session.add(entry)
    db.session.flush()
    reply = _queue_reply(sms, msisdn, reply_key, entry, settings) if reply_key else None
    return Classified(entry, reply)


# Outcomes decided before the code was looked at: the entry keeps no code.
_NO_CODE_OUTCOMES = (Outcome.BLOCKED, Outcome.CAMPAIGN_CLOSED, Outcome.CAMPAIGN_NOT_STARTED, Outcome.OPT_OUT)


def _locked_participant(msisdn: str, now: datetime) -> Participant:
    session = db.session
    session.execute(
        insert_for(session, Participant)
        .values(msisdn=msisdn, first_seen_at=now, valid_entries=0)
        .on_conflict_do_nothing(index_elements=["msisdn"])
    )
    return session.scalars(
        select(Participant).where(Participant.msisdn == msisdn).with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _check_code(code: str, participant: Participant, settings: DrawSettings,
                now: datetime) -> tuple[Outcome, Code | None]:
    row = find_code(code, settings.code_key)
    if row is None:
        return Outcome.INVALID_CODE, None
    if row.used_by is None:
        # Conditional claim: of two numbers sending the same code at once, one wins.
        claimed = db.session.execute(
            update(Code).where(Code.id == row.id, Code.used_by.is_(None))
            .values(used_by=participant.msisdn, used_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.refresh(row)
        if claimed == 1:
            participant.valid_entries += 1
            return (Outcome.VALID_FIRST if participant.valid_entries == 1 else Outcome.VALID_AGAIN), row
    if row.used_by == participant.msisdn:
        return Outcome.DUPLICATE, row
    log.warning("fraud signal: code of batch %s sent by %s was already used by %s",
                row.batch, participant.msisdn, row.used_by)
    return Outcome.ALREADY_USED, row


def _reaches_block(participant: Participant, settings: DrawSettings, now: datetime) -> bool:
    if settings.block_after_failures <= 0:
        return False
    earlier = db.session.scalar(
        select(func.count()).select_from(Entry).where(
            Entry.participant_id == participant.id,
            Entry.outcome.in_([o.value for o in FAILED_OUTCOMES]),
            Entry.created_at > now - settings.block_window,
        )
    )
    return earlier + 1 >= settings.block_after_failures


def _queue_reply(sms: InboundSms, msisdn: str, key: str, entry: Entry, settings: DrawSettings) -> OutboundSms | None:
    if sms.sender_msisdn is None:
        log.info("no reply to sms %s: the sender is not a Guinea mobile number", sms.id)
        return None
    hours = int(settings.block_duration.total_seconds() // 3600)
    text = replies.render(key, {"code": entry.code or "", "chances": entry.chances, "hours": hours})
    message = outbound.queue_message(phone_number=msisdn, text=text, port=sms.port, template_key=key,
                                     caller=AUTO_REPLY_CALLER, priority=Priority.REPLY)
    message.reply_to_sms_id = sms.id
    return message
