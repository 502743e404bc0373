"""The consent rule in the worker's claim (``outbound.claim_due``, issue 13): the purpose
stored on each row, the rows cancelled instead of claimed, the claim filled past them,
and the opt-out read by the claim's own query (no query per message). Runs on PostgreSQL too
(``ROKO_TEST_DATABASE_URL``): the claim's ``FOR UPDATE SKIP LOCKED`` with the cancel."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from roko_app.extensions import db
from roko_app.gateway.topaz import SendResult, StatusResult
from roko_app.models import OutboundSms, OutboundStatus, Priority
from roko_app.services import campaigns, outbound
from roko_app.sms.encoding import analyze
from tests.factories import add_batch, add_participant, add_sms

T0 = datetime(2026, 5, 15, 10, 0, tzinfo=UTC)
OPTED_OUT, SUBSCRIBED = "612345678", "622334455"


def queue(to: str, purpose: outbound.Purpose, *, priority: int = Priority.API, at: datetime = T0) -> int:
    extra = {"reply_to_sms_id": add_sms(to, "ROKO X", at).id} if purpose == outbound.Purpose.REPLY else {}
    values = outbound.message_values(msisdn=to, info=analyze("Bonjour"), port=17, priority=priority, caller="t",
                                     now=at, purpose=purpose, **extra)
    return int(db.session.scalar(OutboundSms.__table__.insert().values(**values).returning(OutboundSms.id)))


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


@pytest.fixture
def ctx(app: Any) -> Iterator[None]:
    with app.app_context():
        add_participant(OPTED_OUT, opted_out_at=T0 - timedelta(minutes=1))
        add_participant(SUBSCRIBED)
        db.session.commit()
        yield


def statuses(ids: list[int]) -> list[tuple[str, str | None]]:
    db.session.expire_all()
    return [(m.status, m.last_error) for m in (db.session.get(OutboundSms, i) for i in ids) if m is not None]


def test_the_claim_cancels_what_an_opted_out_number_no_longer_gets_and_fills_the_batch_past_it(ctx: None) -> None:
    cancelled = [queue(OPTED_OUT, purpose, priority=Priority.REPLY)
                 for purpose in (outbound.Purpose.OPERATOR, outbound.Purpose.CAMPAIGN, outbound.Purpose.OPERATOR)]
    exempt = [queue(OPTED_OUT, outbound.Purpose.REPLY), queue(OPTED_OUT, outbound.Purpose.WINNER_NOTICE)]
    others = [queue(SUBSCRIBED, outbound.Purpose.OPERATOR, priority=Priority.BULK) for _ in range(2)]
    db.session.commit()

    claimed = [m.id for m in outbound.claim_due(3, now=T0)]
    db.session.commit()
    assert claimed == [*exempt, others[0]], "the three cancelled rows' places went to the next due rows"
    assert statuses(cancelled) == [("CANCELLED", "CANCELLED_OPTED_OUT")] * 3
    assert statuses(claimed) == [("SENDING", None)] * 3
    assert [m.id for m in outbound.claim_due(3, now=T0)] == others[1:]
    db.session.commit()


def test_consent_is_read_by_the_claims_own_query_with_no_query_per_message(ctx: None) -> None:
    def statements_of_a_claim(refused: int) -> list[str]:
        for _ in range(refused):
            queue(OPTED_OUT, outbound.Purpose.OPERATOR)
        for _ in range(20):
            queue(SUBSCRIBED, outbound.Purpose.CAMPAIGN)
        db.session.commit()
        with statements() as seen:
            claimed = outbound.claim_due(20, now=T0)
            db.session.commit()
        assert len(claimed) == 20 and {m.to_msisdn for m in claimed} == {SUBSCRIBED}
        return seen

    one, fifteen = statements_of_a_claim(1), statements_of_a_claim(15)
    assert len(one) == len(fifteen), "cancelling 15 rows costs what cancelling one does"
    assert [s for s in one if "participant" in s] == [s for s in one if s.lstrip().startswith("SELECT outbound_sms")]


@pytest.mark.parametrize("in_flight", ["lapsed lease", "maybe sent"])
def test_a_message_that_may_have_gone_out_is_asked_about_before_it_is_cancelled(ctx: None, in_flight: str) -> None:
    """Its sender died mid-call, or an earlier attempt timed out: the farmer may have the
    SMS. Not sent again, not called cancelled (Optimove would hear 'not sent'): UNCERTAIN,
    and the status query decides."""
    ids = []
    for answer in ("sent", "unknown"):
        message_id = queue(SUBSCRIBED, outbound.Purpose.OPERATOR)
        values: dict[str, Any] = ({"status": OutboundStatus.SENDING, "attempts": 1,
                                   "lease_expires_at": T0 - timedelta(seconds=1)} if in_flight == "lapsed lease"
                                  else {"maybe_sent": True, "attempts": 1})
        db.session.execute(update(OutboundSms).where(OutboundSms.id == message_id).values(**values))
        ids.append((message_id, answer))
    add_participant(SUBSCRIBED, opted_out_at=T0 - timedelta(seconds=30))
    db.session.commit()
    assert outbound.claim_due(10, now=T0) == []
    db.session.commit()
    assert [status for status, _error in statuses([i for i, _a in ids])] == ["UNCERTAIN", "UNCERTAIN"]
    assert all(error.startswith("CANCELLED_OPTED_OUT; ") for _s, error in statuses([i for i, _a in ids]))
    for message_id, answer in ids:
        outbound.settle_uncertain(message_id, StatusResult(answer, gateway_sms_id=9 if answer == "sent" else None),
                                  now=T0 + timedelta(minutes=5))
    db.session.commit()
    # the gateway had the first: it is SENT; the second never reached it: queued again, then cancelled
    assert statuses([ids[0][0]])[0][0] == "SENT"
    assert outbound.claim_due(10, now=T0 + timedelta(minutes=6)) == []
    db.session.commit()
    assert statuses([ids[1][0]]) == [("CANCELLED", "CANCELLED_OPTED_OUT")]


def test_a_number_that_opted_back_in_gets_its_queued_messages(ctx: None) -> None:
    message_id = queue(OPTED_OUT, outbound.Purpose.CAMPAIGN)
    add_participant(OPTED_OUT, opted_out_at=None)
    db.session.commit()
    assert [m.id for m in outbound.claim_due(10, now=T0)] == [message_id]
    db.session.commit()


@pytest.mark.parametrize(("extra", "purpose", "stored"), [
    ({}, None, "OPERATOR"),
    ({"reply_to_sms_id": 7}, None, "REPLY"),
    ({}, outbound.Purpose.CAMPAIGN, "CAMPAIGN"),
    ({}, outbound.Purpose.WINNER_NOTICE, "WINNER_NOTICE"),
])
def test_each_row_says_its_purpose(extra: dict[str, Any], purpose: Any, stored: str) -> None:
    values = outbound.message_values(msisdn=OPTED_OUT, info=analyze("x"), port=17, priority=Priority.API,
                                     caller="t", now=T0, purpose=purpose, **extra)
    assert values["purpose"] == stored


def test_a_row_written_without_a_purpose_is_an_operators_message(ctx: None) -> None:
    """The column's server default: what an opted-out number never gets."""
    values = outbound.message_values(msisdn=OPTED_OUT, info=analyze("x"), port=17, priority=Priority.API,
                                     caller="t", now=T0)
    del values["purpose"]
    message_id = db.session.scalar(OutboundSms.__table__.insert().values(**values).returning(OutboundSms.id))
    assert db.session.scalar(select(OutboundSms.purpose).where(OutboundSms.id == message_id)) == "OPERATOR"
    assert outbound.claim_due(10, now=T0) == []
    db.session.commit()
    assert statuses([int(message_id)]) == [("CANCELLED", "CANCELLED_OPTED_OUT")]


@pytest.mark.parametrize(("purpose", "allowed"), [("REPLY", True), ("WINNER_NOTICE", True), ("OPERATOR", False),
                                                  ("CAMPAIGN", False), ("SOMETHING_NEW", False)])
def test_an_unknown_purpose_is_not_one_an_opted_out_number_still_gets(purpose: str, allowed: bool) -> None:
    assert outbound.consent_allows(purpose, opted_out=True) is allowed
    assert outbound.consent_allows(purpose, opted_out=False)


def test_a_campaign_message_that_was_in_flight_when_its_batch_was_cancelled_is_not_sent_later(ctx: None) -> None:
    """The cancel withdraws the QUEUED rows; one being sent at that moment that then fails
    transiently comes back to the queue, and its next claim cancels it (it used to be sent
    after the cancel)."""
    batch = add_batch(T0)
    message_id = queue(SUBSCRIBED, outbound.Purpose.CAMPAIGN)
    db.session.execute(update(OutboundSms).where(OutboundSms.id == message_id).values(campaign_batch_id=batch.id))
    db.session.commit()
    policy = outbound.RetryPolicy()
    (claimed,) = outbound.claim_due(10, now=T0, policy=policy)
    db.session.commit()
    assert campaigns.cancel(batch.id, by="ops@roko.test", now=T0 + timedelta(seconds=1)) == 0  # it is SENDING
    db.session.commit()
    outbound.record_outcome(claimed, SendResult.transient("HTTP 503"), policy, now=T0 + timedelta(seconds=2))
    db.session.commit()
    assert statuses([message_id])[0][0] == "QUEUED"
    assert outbound.claim_due(10, now=T0 + timedelta(hours=1), policy=policy) == []
    db.session.commit()
    assert statuses([message_id]) == [("CANCELLED", "cancelled by ops@roko.test")]
    # a message of a batch that stands is claimed as before
    other = queue(SUBSCRIBED, outbound.Purpose.CAMPAIGN)
    db.session.execute(update(OutboundSms).where(OutboundSms.id == other).values(campaign_batch_id=add_batch(T0).id))
    db.session.commit()
    assert [m.id for m in outbound.claim_due(10, now=T0 + timedelta(hours=1), policy=policy)] == [other]
