"""Consent (issue 13): a number that texted STOP gets only the answers to its own SMS and
winner notices, through every path; START (or DÉBUT) lets it back in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import OutboundSms, Priority
from roko_app.services import outbound
from tests.factories import DRAW_BEACON_VALUE, DRAW_UNTIL, add_draw, add_participant, issue_key, register_codes
from tests.helpers import SEND_SEED_EXAMPLE, SEND_URL, SIM_TOKEN, assert_documented_response, assert_error, send, text_in

FARMER = SEND_SEED_EXAMPLE["phone_number"]


@pytest.fixture
def consent_app(make_app: Any, simulator: Any) -> Any:
    app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_SEND_PORT=17, CAMPAIGN_START="",
                   CAMPAIGN_END="")
    register_codes(app, "U10000001")
    return app


def replies_to(app: Any, sms_id: int) -> list[OutboundSms]:
    with app.app_context():
        return list(db.session.scalars(select(OutboundSms).where(OutboundSms.reply_to_sms_id == sms_id)))


def count_to(app: Any, msisdn: str = FARMER) -> int:
    with app.app_context():
        return len(list(db.session.scalars(select(OutboundSms.id).where(OutboundSms.to_msisdn == msisdn))))


def test_after_stop_the_send_api_answers_422_opted_out_and_queues_nothing(consent_app: Any, simulator: Any) -> None:
    key = issue_key(consent_app)
    stop = text_in(consent_app, "ARRÊT")
    (confirmation,) = replies_to(consent_app, stop)
    assert confirmation.priority == Priority.REPLY and "START" in confirmation.text, "the STOP reply is still sent"
    before = count_to(consent_app)
    response = send(consent_app, SEND_SEED_EXAMPLE, key)
    body = assert_error(response, 422, "OPTED_OUT")
    assert_documented_response(SEND_URL, "post", response)
    assert FARMER not in body["message"]
    assert count_to(consent_app) == before and simulator.sent() == []


def test_start_lets_the_number_back_in(consent_app: Any, simulator: Any) -> None:
    key = issue_key(consent_app)
    text_in(consent_app, "STOP")
    assert send(consent_app, SEND_SEED_EXAMPLE, key).status_code == 422
    text_in(consent_app, "début")
    response = send(consent_app, SEND_SEED_EXAMPLE, key)
    assert response.status_code == 200, response.get_json()
    assert [sms["to"] for sms in simulator.sent()] == [FARMER]


def test_an_opted_out_number_still_gets_answers_to_its_later_texts(consent_app: Any) -> None:
    text_in(consent_app, "STOP")
    later = text_in(consent_app, "ROKO U10000001")
    (reply,) = replies_to(consent_app, later)
    assert (reply.template_key, reply.status) == ("VALID_FIRST", "QUEUED")


def test_another_number_is_not_affected(consent_app: Any) -> None:
    text_in(consent_app, "STOP")
    assert send(consent_app, {**SEND_SEED_EXAMPLE, "phone_number": "622334455"}, issue_key(consent_app)).status_code == 200


@pytest.mark.parametrize(("purpose", "allowed"), [
    (outbound.Purpose.REPLY, True), (outbound.Purpose.WINNER_NOTICE, True),
    (outbound.Purpose.OPERATOR, False), (outbound.Purpose.CAMPAIGN, False),
])
def test_the_rule_by_purpose(consent_app: Any, purpose: outbound.Purpose, allowed: bool) -> None:
    stop = text_in(consent_app, "STOP")
    assert outbound.consent_allows(purpose, opted_out=False)
    assert outbound.consent_allows(purpose, opted_out=True) is allowed
    with consent_app.app_context():
        extra = {"reply_to_sms_id": stop} if purpose == outbound.Purpose.REPLY else {}
        db.session.execute(OutboundSms.__table__.delete().where(OutboundSms.reply_to_sms_id == stop))
        if allowed:
            message = outbound.queue_message(phone_number=FARMER, text="Bravo", port=17, purpose=purpose, **extra)
            assert message.status == "QUEUED"
        else:
            with pytest.raises(outbound.OptedOut) as refused:
                outbound.queue_message(phone_number=FARMER, text="Bravo", port=17, purpose=purpose)
            assert refused.value.msisdns == [FARMER] and refused.value.code == "OPTED_OUT"
        db.session.rollback()


def test_a_reply_names_the_sms_it_answers(consent_app: Any) -> None:
    with consent_app.app_context(), pytest.raises(ValueError, match="reply_to_sms_id"):
        outbound.queue_message(phone_number=FARMER, text="Bravo", port=17, purpose=outbound.Purpose.REPLY)


def test_the_default_purpose_is_an_operators_message(consent_app: Any) -> None:
    text_in(consent_app, "STOP")
    with consent_app.app_context(), pytest.raises(outbound.OptedOut):
        outbound.queue_message(phone_number="+224 612 34 56 78", text="Bravo", port=17)


def test_an_opted_out_winner_still_gets_the_winner_notice(app: Any) -> None:
    from roko_app.services import draws

    draw_id, codes = add_draw(app, "CLOSED")
    with app.app_context():
        for msisdn in codes:
            add_participant(msisdn, opted_out_at=DRAW_UNTIL)
        draws.run_draw(draw_id, actor="cli", value=DRAW_BEACON_VALUE, now=DRAW_UNTIL + timedelta(days=1))
        db.session.commit()
        notices = db.session.scalars(select(OutboundSms).where(OutboundSms.template_key == "WINNER")).all()
        assert len(notices) == 3 and {m.to_msisdn for m in notices} <= set(codes)
