"""Every outcome of a farmer's SMS, through the inbound webhook: the entry, the
participant's state and the French reply queued in the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import Code, Entry, OutboundSms, Participant
from tests.factories import register_codes
from tests.helpers import classify_all, expected_reply, text_in

FARMER = "612345678"
OTHER = "622334455"
CODES = ["U10000001", "U10000002", "U10000003", "U10000004"]


@pytest.fixture
def draw_app(make_app: Any) -> Any:
    app = make_app(CAMPAIGN_START="", CAMPAIGN_END="")
    register_codes(app, *CODES)
    return app


def entry_of(app: Any, sms_id: int) -> Entry:
    with app.app_context():
        return db.session.scalars(select(Entry).where(Entry.sms_id == sms_id)).one()


def reply_to(app: Any, sms_id: int) -> OutboundSms | None:
    with app.app_context():
        return db.session.scalars(select(OutboundSms).where(OutboundSms.reply_to_sms_id == sms_id)).one_or_none()


def participant(app: Any, msisdn: str = FARMER) -> Participant:
    with app.app_context():
        return db.session.scalars(select(Participant).where(Participant.msisdn == msisdn)).one()




def test_valid_first(draw_app: Any) -> None:
    sms = text_in(draw_app, "ROKO U10000001")
    entry = entry_of(draw_app, sms)
    assert (entry.outcome, entry.code, entry.chances, entry.msisdn) == ("VALID_FIRST", "U10000001", 1, FARMER)
    reply = reply_to(draw_app, sms)
    assert reply.text == expected_reply("VALID_FIRST", code="U10000001")
    assert (reply.to_msisdn, reply.template_key, reply.status, reply.port) == (FARMER, "VALID_FIRST", "QUEUED", 17)
    assert reply.priority > 5 and reply.caller == "auto-reply" and reply.encoding == "GSM-7"
    with draw_app.app_context():
        code = db.session.get(Code, entry.code_id)
        assert code.used_by == FARMER and code.used_at is not None


def test_valid_again_counts_chances(draw_app: Any) -> None:
    text_in(draw_app, "ROKO U10000001")
    second = text_in(draw_app, "roko u10000002")
    third = text_in(draw_app, "U10000003")
    assert [entry_of(draw_app, s).outcome for s in (second, third)] == ["VALID_AGAIN", "VALID_AGAIN"]
    assert entry_of(draw_app, third).chances == 3
    assert reply_to(draw_app, third).text == expected_reply("VALID_AGAIN", code="U10000003", chances=3)
    assert participant(draw_app).valid_entries == 3


def test_duplicate_from_the_same_number(draw_app: Any) -> None:
    text_in(draw_app, "ROKO U10000001")
    again = text_in(draw_app, "ROKO U10000001")
    entry = entry_of(draw_app, again)
    assert (entry.outcome, entry.chances) == ("DUPLICATE", 1)
    assert reply_to(draw_app, again).text == expected_reply("DUPLICATE", code="U10000001", chances=1)
    assert participant(draw_app).valid_entries == 1


def test_already_used_by_another_number_is_logged_as_fraud_signal(draw_app: Any, caplog: Any) -> None:
    text_in(draw_app, "ROKO U10000001", sender=OTHER)
    sms = text_in(draw_app, "ROKO U10000001")
    assert entry_of(draw_app, sms).outcome == "ALREADY_USED"
    assert reply_to(draw_app, sms).text == expected_reply("ALREADY_USED", code="U10000001")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("fraud signal" in line and f"participant {participant(draw_app, FARMER).id}" in line
               for line in warnings), warnings
    assert not any(FARMER in line or OTHER in line for line in warnings), "no phone number is logged"
    with draw_app.app_context():
        assert db.session.scalars(select(Code).where(Code.used_by == OTHER)).one()


def test_invalid_code(draw_app: Any) -> None:
    sms = text_in(draw_app, "ROKO U99999999")
    entry = entry_of(draw_app, sms)
    assert (entry.outcome, entry.code, entry.code_id) == ("INVALID_CODE", "U99999999", None)
    assert reply_to(draw_app, sms).text == expected_reply("INVALID_CODE", code="U99999999")


@pytest.mark.parametrize("text", ["bonjour", "ROKO", "ROKO U1234", "ROKO X12345678", "U123456789"])
def test_bad_format_explains_the_format(draw_app: Any, text: str) -> None:
    sms = text_in(draw_app, text)
    entry = entry_of(draw_app, sms)
    assert (entry.outcome, entry.code) == ("BAD_FORMAT", None)
    assert "ROKO U12345678" in reply_to(draw_app, sms).text


@pytest.mark.parametrize("text", ["STOP", "arret", "ARRÊT", " Stop "])
def test_opt_out_is_confirmed_once_and_entries_still_count(draw_app: Any, text: str) -> None:
    text_in(draw_app, "ROKO U10000001")
    first = text_in(draw_app, text)
    second = text_in(draw_app, "STOP")
    assert entry_of(draw_app, first).outcome == entry_of(draw_app, second).outcome == "OPT_OUT"
    assert reply_to(draw_app, first).text == expected_reply("OPT_OUT")
    assert reply_to(draw_app, second) is None, "one confirmation only"
    farmer = participant(draw_app)
    assert farmer.opted_out_at is not None and farmer.valid_entries == 1
    later = text_in(draw_app, "ROKO U10000002")
    assert entry_of(draw_app, later).outcome == "VALID_AGAIN", "an opted-out farmer still takes part"


def test_the_stop_confirmation_says_how_to_come_back(draw_app: Any) -> None:
    assert "START" in reply_to(draw_app, text_in(draw_app, "STOP")).text


@pytest.mark.parametrize("text", ["START", "début", "DEBUT", "ROKO Start !"])
def test_opt_in_after_stop_resubscribes_and_is_confirmed(draw_app: Any, text: str) -> None:
    with freeze_time("2026-03-02 08:00:00"):
        text_in(draw_app, "STOP")
    with freeze_time("2026-03-02 09:00:00"):
        back = text_in(draw_app, text)
    entry = entry_of(draw_app, back)
    assert (entry.outcome, entry.code, entry.participant_id) == ("OPT_IN", None, participant(draw_app).id)
    assert participant(draw_app).opted_out_at is None
    reply = reply_to(draw_app, back)
    assert (reply.text, reply.template_key, reply.priority) == (expected_reply("OPT_IN"), "OPT_IN", 10)
    again = text_in(draw_app, "STOP")
    assert participant(draw_app).opted_out_at is not None
    assert reply_to(draw_app, again).text == expected_reply("OPT_OUT"), "a second STOP is confirmed again"


def test_opt_in_without_an_opt_out_changes_nothing_but_is_answered(draw_app: Any) -> None:
    sms = text_in(draw_app, "START")
    assert entry_of(draw_app, sms).outcome == "OPT_IN"
    assert participant(draw_app).opted_out_at is None
    assert reply_to(draw_app, sms).text == expected_reply("OPT_IN")


def test_opt_in_and_opt_out_in_one_batch_apply_in_order(draw_app: Any) -> None:
    """The batch keeps the participant in memory: STOP, START, STOP in a row end opted out."""
    ids = [text_in(draw_app, text, classify=False) for text in ("STOP", "START", "STOP")]
    classify_all(draw_app)
    assert [entry_of(draw_app, sms).outcome for sms in ids] == ["OPT_OUT", "OPT_IN", "OPT_OUT"]
    assert participant(draw_app).opted_out_at is not None
    assert [reply_to(draw_app, sms).template_key for sms in ids] == ["OPT_OUT", "OPT_IN", "OPT_OUT"]


def test_stop_followed_by_words_is_not_an_opt_out(draw_app: Any) -> None:
    sms = text_in(draw_app, "STOP U10000001")
    assert entry_of(draw_app, sms).outcome != "OPT_OUT"
    assert participant(draw_app).opted_out_at is None


def test_sender_outside_guinea_gets_an_entry_but_no_reply(draw_app: Any) -> None:
    sms = text_in(draw_app, "ROKO U10000001", sender="33612345678")
    assert entry_of(draw_app, sms).outcome == "VALID_FIRST"
    assert reply_to(draw_app, sms) is None


def test_replies_go_out_from_the_port_the_sms_came_in_on(draw_app: Any) -> None:
    sms = text_in(draw_app, "ROKO U10000001", port=3)
    assert reply_to(draw_app, sms).port == 3


# --- replays: one entry and one reply per SMS --------------------------------------------

def test_gateway_replay_creates_no_second_entry_or_reply(draw_app: Any) -> None:
    first = text_in(draw_app, "ROKO U10000001", gateway_sms_id=77)
    again = text_in(draw_app, "ROKO U10000001", gateway_sms_id=77)
    assert first == again
    with draw_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Entry)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboundSms)) == 1
    assert entry_of(draw_app, first).outcome == "VALID_FIRST"


# --- the campaign window (Africa/Conakry = UTC+0) ----------------------------------------

@pytest.mark.parametrize(("moment", "outcome"), [
    ("2026-05-31T23:59:59Z", "CAMPAIGN_NOT_STARTED"),
    ("2026-06-01T00:00:00Z", "VALID_FIRST"),
    ("2026-08-31T23:59:59Z", "VALID_FIRST"),
    ("2026-09-01T00:00:00Z", "CAMPAIGN_CLOSED"),
])
def test_campaign_window(make_app: Any, moment: str, outcome: str) -> None:
    app = make_app(CAMPAIGN_START="2026-06-01T00:00", CAMPAIGN_END="2026-09-01T00:00")
    register_codes(app, "U10000001")
    with freeze_time(moment):
        sms = text_in(app, "ROKO U10000001")
    entry = entry_of(app, sms)
    assert entry.outcome == outcome
    assert reply_to(app, sms).template_key == outcome
    if outcome != "VALID_FIRST":
        with app.app_context():
            assert db.session.scalars(select(Code)).one().used_by is None, "no code is used outside the window"


def test_open_ended_campaign_sides(make_app: Any) -> None:
    app = make_app(CAMPAIGN_START="", CAMPAIGN_END="2026-09-01T00:00")
    register_codes(app, "U10000001")
    with freeze_time("2020-01-01T00:00:00Z"):
        assert entry_of(app, text_in(app, "ROKO U10000001")).outcome == "VALID_FIRST"


# --- blocking -----------------------------------------------------------------------------

def test_fifth_failure_in_24h_blocks_with_one_reply_then_silence(draw_app: Any) -> None:
    with freeze_time("2026-06-10T08:00:00Z") as frozen:
        for i in range(4):
            sms = text_in(draw_app, f"ROKO U9999999{i}")
            assert entry_of(draw_app, sms).outcome == "INVALID_CODE"
            assert reply_to(draw_app, sms).template_key == "INVALID_CODE"
            frozen.tick(timedelta(minutes=10))
        fifth = text_in(draw_app, "ROKO U99999995")
        assert entry_of(draw_app, fifth).outcome == "INVALID_CODE"
        assert reply_to(draw_app, fifth).text == expected_reply("BLOCKED", hours=24)
        blocked_until = participant(draw_app).blocked_until
        assert blocked_until == datetime(2026, 6, 11, 8, 40, tzinfo=UTC)
        # Blocked: a REGISTERED code is not even looked up, and there is no reply.
        frozen.tick(timedelta(hours=1))
        quiet = text_in(draw_app, "ROKO U10000001")
        entry = entry_of(draw_app, quiet)
        assert (entry.outcome, entry.code, entry.code_id) == ("BLOCKED", None, None)
        assert reply_to(draw_app, quiet) is None
        with draw_app.app_context():
            assert db.session.scalars(select(Code).where(Code.used_by.is_not(None))).all() == []
        # Opting out still works while blocked.
        assert entry_of(draw_app, text_in(draw_app, "STOP")).outcome == "OPT_OUT"
        # The block lapses.
        frozen.move_to(blocked_until)
        assert entry_of(draw_app, text_in(draw_app, "ROKO U10000001")).outcome == "VALID_FIRST"


def test_failures_older_than_the_window_do_not_count(draw_app: Any) -> None:
    with freeze_time("2026-06-10T08:00:00Z") as frozen:
        for i in range(4):
            text_in(draw_app, f"ROKO U9999999{i}")
        frozen.tick(timedelta(hours=24, seconds=1))
        sms = text_in(draw_app, "ROKO U99999995")
        assert reply_to(draw_app, sms).template_key == "INVALID_CODE"
        assert participant(draw_app).blocked_until is None


def test_already_used_counts_as_a_failure_and_bad_format_does_not(make_app: Any) -> None:
    app = make_app(BLOCK_AFTER_FAILURES=2)
    register_codes(app, *CODES)
    text_in(app, "ROKO U10000001", sender=OTHER)
    for _ in range(3):
        text_in(app, "hello")
    assert participant(app).blocked_until is None
    text_in(app, "ROKO U10000001")  # already used: failure 1
    sms = text_in(app, "ROKO U99999999")  # invalid: failure 2 -> blocked
    assert reply_to(app, sms).template_key == "BLOCKED"
    assert participant(app).blocked_until is not None


def test_each_entry_records_sms_sender_code_outcome_and_time(draw_app: Any) -> None:
    with freeze_time("2026-06-10T08:00:00Z"):
        sms = text_in(draw_app, "ROKO U10000001")
    entry = entry_of(draw_app, sms)
    assert entry.sms_id == sms and entry.msisdn == FARMER and entry.code == "U10000001"
    assert entry.created_at == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)


def test_after_an_unblock_old_failures_no_longer_count(draw_app: Any) -> None:
    from roko_app.services.participants import unblock

    with freeze_time("2026-06-10T08:00:00Z") as frozen:
        for i in range(5):
            text_in(draw_app, f"ROKO U9999999{i}")
        assert participant(draw_app).blocked_until is not None
        frozen.tick(timedelta(hours=1))
        with draw_app.app_context():
            assert unblock(FARMER) is True
            db.session.commit()
        frozen.tick(timedelta(minutes=1))
        sms = text_in(draw_app, "ROKO U99999998")  # one more mistake right after the unblock
        assert reply_to(draw_app, sms).template_key == "INVALID_CODE", "not blocked again at once"
        assert entry_of(draw_app, text_in(draw_app, "ROKO U10000001")).outcome == "VALID_FIRST"
        for i in range(3):
            text_in(draw_app, f"ROKO U8888888{i}")
        fifth = text_in(draw_app, "ROKO U88888889")  # the 5th failure since the unblock blocks again
        assert reply_to(draw_app, fifth).template_key == "BLOCKED"
