"""The classify job: the webhook only stores; the worker classifies each SMS exactly once,
in arrival order per number, retries what raised, parks what keeps failing, and wakes
the senders so that replies leave at once."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import create_engine, event, select, text

from roko_app.extensions import db
from roko_app.models import Entry, InboundSms, OutboundSms
from roko_app.services import classify, outbound
from roko_app.worker import Control, Worker, run_jobs
from tests.factories import register_codes
from tests.helpers import SIM_TOKEN, classify_all, text_in

FARMER = "612345678"
OTHER = "622334455"
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def draw_app(make_app: Any) -> Any:
    app = make_app(CAMPAIGN_START="", CAMPAIGN_END="")
    register_codes(app, "U10000001", "U10000002", "U10000003")
    return app


def store(app: Any, text_: str, sender: str = FARMER, gateway_sms_id: int | None = None) -> int:
    return text_in(app, text_, sender, gateway_sms_id=gateway_sms_id, classify=False)




def sms(app: Any, sms_id: int) -> InboundSms:
    with app.app_context():
        return db.session.get(InboundSms, sms_id)


def outcomes(app: Any) -> dict[int, str]:
    with app.app_context():
        return {e.sms_id: e.outcome for e in db.session.scalars(select(Entry))}


def replies(app: Any) -> dict[int, str]:
    with app.app_context():
        return {m.reply_to_sms_id: m.template_key for m in db.session.scalars(select(OutboundSms))}


@pytest.fixture
def poison(monkeypatch: pytest.MonkeyPatch) -> None:
    """Classification raises for any SMS whose text contains POISON (a bug in the rules)."""
    real = classify.parse_message

    def parse(text_: str, keyword: str = "ROKO") -> Any:
        if "POISON" in text_:
            raise RuntimeError("a bug in the rules")
        return real(text_, keyword)

    monkeypatch.setattr(classify, "parse_message", parse)


# --- the webhook stores, the worker classifies -------------------------------------------------


def test_the_webhook_only_stores_and_the_worker_classifies(draw_app: Any) -> None:
    sms_id = store(draw_app, "ROKO U10000001")
    assert outcomes(draw_app) == {} and replies(draw_app) == {}
    assert sms(draw_app, sms_id).classified_at is None
    stats = classify_all(draw_app)
    assert stats.classified == 1
    assert outcomes(draw_app) == {sms_id: "VALID_FIRST"} and replies(draw_app) == {sms_id: "VALID_FIRST"}
    assert sms(draw_app, sms_id).classified_at is not None


def test_each_sms_is_classified_once_replays_and_reruns_included(draw_app: Any) -> None:
    first = store(draw_app, "ROKO U10000001", gateway_sms_id=77)
    classify_all(draw_app)
    assert store(draw_app, "ROKO U10000001", gateway_sms_id=77) == first  # the gateway's replay
    assert classify_all(draw_app).classified == 0
    assert outcomes(draw_app) == {first: "VALID_FIRST"} and len(replies(draw_app)) == 1


def test_a_batch_is_classified_in_one_round_in_arrival_order(draw_app: Any) -> None:
    ids = [store(draw_app, f"ROKO U1000000{i}") for i in (1, 2, 3)] + [store(draw_app, "bonjour", sender=OTHER)]
    stats = classify_all(draw_app, batch_size=100)
    assert (stats.classified, stats.batches) == (4, 1)  # one batch, one commit
    assert [outcomes(draw_app)[i] for i in ids] == ["VALID_FIRST", "VALID_AGAIN", "VALID_AGAIN", "BAD_FORMAT"]


def test_the_rules_apply_at_the_time_the_sms_arrived(make_app: Any) -> None:
    """A backlog classified after the campaign closed still counts what arrived before."""
    app = make_app(CAMPAIGN_START="2026-06-01T00:00", CAMPAIGN_END="2026-06-10T12:00")
    register_codes(app, "U10000001", "U10000002")
    with freeze_time(T0 + timedelta(hours=2, minutes=59)):  # 11:59, before the close
        before = store(app, "ROKO U10000001")
    with freeze_time(T0 + timedelta(hours=3)):  # 12:00, the close
        after = store(app, "ROKO U10000002")
    with freeze_time(T0 + timedelta(days=1)):
        classify_all(app)
    assert outcomes(app) == {before: "VALID_FIRST", after: "CAMPAIGN_CLOSED"}
    with app.app_context():
        entry = db.session.scalars(select(Entry).where(Entry.sms_id == before)).one()
        assert entry.created_at == T0 + timedelta(hours=2, minutes=59)


# --- failures: retried, parked, never lost, never holding up others ------------------------------


@pytest.mark.usefixtures("poison")
def test_a_failing_sms_does_not_hold_back_the_others(draw_app: Any) -> None:
    with freeze_time(T0):
        good_before = store(draw_app, "ROKO U10000001", sender="611111111")
        bad = store(draw_app, "POISON U10000002")
        good_after = store(draw_app, "ROKO U10000003", sender="633333333")
        stats = classify_all(draw_app)
    assert (stats.classified, stats.failed, stats.parked) == (2, 1, 0)
    assert outcomes(draw_app) == {good_before: "VALID_FIRST", good_after: "VALID_FIRST"}
    row = sms(draw_app, bad)
    assert (row.classified_at, row.classify_attempts, row.parked_at) == (None, 1, None)
    assert row.classify_error == "RuntimeError: a bug in the rules"
    assert row.classify_after == T0 + timedelta(seconds=30)


@pytest.mark.usefixtures("poison")
def test_a_failing_sms_is_retried_with_backoff_then_parked_then_retried_by_hand(
        draw_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with freeze_time(T0):
        bad = store(draw_app, "POISON U10000001")
        classify_all(draw_app)
    with freeze_time(T0 + timedelta(seconds=29)):
        assert classify_all(draw_app).failed == 0  # not due yet
    with freeze_time(T0 + timedelta(seconds=30)):
        assert classify_all(draw_app).failed == 1
    row = sms(draw_app, bad)
    assert (row.classify_attempts, row.classify_after) == (2, T0 + timedelta(seconds=90))  # 30 s, then 60 s
    with freeze_time(T0 + timedelta(seconds=90)):
        stats = classify_all(draw_app)
    assert (stats.failed, stats.parked) == (1, 1)
    row = sms(draw_app, bad)
    assert (row.parked_at, row.classify_attempts) == (T0 + timedelta(seconds=90), 3)
    with freeze_time(T0 + timedelta(days=30)):
        assert classify_all(draw_app).failed == 0  # parked: never tried again by itself
    with draw_app.app_context():
        assert classify.pending_count() == 0
        classify.retry_parked(bad)
        db.session.commit()
        with pytest.raises(classify.NotParked):
            classify.retry_parked(bad)
    monkeypatch.undo()  # the bug is fixed
    assert classify_all(draw_app).classified == 1
    assert outcomes(draw_app) == {bad: "VALID_FIRST"}
    row = sms(draw_app, bad)
    assert row.classified_at is not None and row.classify_error is None and row.parked_at is None


@pytest.mark.usefixtures("poison")
def test_the_retry_delay_grows_to_a_day_and_no_further(make_app: Any) -> None:
    """With many tries allowed the doubled backoff would pass any date: it stops at a day."""
    app = make_app(CAMPAIGN_START="", CAMPAIGN_END="", CLASSIFY_MAX_ATTEMPTS=100)
    with freeze_time(T0):
        bad = store(app, "POISON U10000001")
        classify_all(app)
    assert sms(app, bad).classify_after == T0 + timedelta(seconds=30)
    with app.app_context():
        db.session.execute(InboundSms.__table__.update().values(classify_attempts=11, classify_after=None))
        db.session.commit()
    with freeze_time(T0):
        classify_all(app)  # the 12th try: 30 s * 2**11 = 17 h
    assert sms(app, bad).classify_after == T0 + timedelta(seconds=30 * 2**11)
    with app.app_context():
        db.session.execute(InboundSms.__table__.update().values(classify_attempts=60, classify_after=None))
        db.session.commit()
    with freeze_time(T0):
        assert classify_all(app).failed == 1  # the 61st try: a day, not 30 s * 2**60
    row = sms(app, bad)
    assert (row.classify_attempts, row.classify_after, row.parked_at) == (61, T0 + timedelta(days=1), None)


def test_the_largest_settings_allowed_do_not_overflow_the_retry_delay(make_app: Any) -> None:
    app = make_app(CLASSIFY_MAX_ATTEMPTS=100, CLASSIFY_BACKOFF_SECONDS=86_400)
    rule = classify.RetryRule.from_config(app.config)
    assert [rule.delay(n) for n in (1, 2, 31, 100)] == [timedelta(days=1)] * 4


@pytest.mark.usefixtures("poison")
def test_a_numbers_later_sms_waits_for_its_failed_earlier_one_others_do_not(draw_app: Any) -> None:
    with freeze_time(T0):
        bad = store(draw_app, "POISON")
        later = store(draw_app, "ROKO U10000001")
        other = store(draw_app, "ROKO U10000002", sender=OTHER)
        classify_all(draw_app)
    assert outcomes(draw_app) == {other: "VALID_FIRST"}
    assert sms(draw_app, later).classify_after == T0 + timedelta(seconds=30)  # behind the failed one
    with freeze_time(T0 + timedelta(seconds=30)):
        classify_all(draw_app)
    with freeze_time(T0 + timedelta(seconds=90)):
        classify_all(draw_app)  # the third failure parks it; the number's queue moves again
    assert sms(draw_app, bad).parked_at is not None
    assert outcomes(draw_app) == {other: "VALID_FIRST", later: "VALID_FIRST"}


def pending(app: Any, *sms_ids: int) -> list[classify.PendingSms]:
    """The stored SMS as a classifier's batch would hold them."""
    with app.app_context():
        return [classify.claim_one(sms_id) for sms_id in sms_ids]


def test_a_later_sms_waits_for_an_earlier_one_another_worker_holds(draw_app: Any) -> None:
    """Of a number's SMS 1, 2, 3, another worker holds 2: this batch classifies 1 and leaves 3."""
    first, held, third = (store(draw_app, f"ROKO U1000000{i}") for i in (1, 2, 3))
    other = store(draw_app, "bonjour", sender=OTHER)
    batch = pending(draw_app, first, third, other)
    with draw_app.app_context():
        result = classify.classify_batch(batch, classify.DrawSettings.from_config(draw_app.config))
        db.session.commit()
    assert result.deferred == [third]
    assert outcomes(draw_app) == {first: "VALID_FIRST", other: "BAD_FORMAT"}
    assert classify_all(draw_app).classified == 2  # the held one, then the one behind it
    assert [outcomes(draw_app)[i] for i in (held, third)] == ["VALID_AGAIN", "VALID_AGAIN"]


def test_failures_of_one_batch_count_towards_blocking(make_app: Any) -> None:
    """Three wrong codes already stored and classified, two more in one batch: the fifth
    blocks (the limit is 5 in 24 h); a wrong code before the window does not count."""
    app = make_app(CAMPAIGN_START="", CAMPAIGN_END="", BLOCK_AFTER_FAILURES=5, BLOCK_WINDOW_HOURS=24)
    register_codes(app, "U10000001")
    with freeze_time(T0 - timedelta(hours=24)):  # exactly at the window's edge: outside it
        store(app, "ROKO U99999990")
    with freeze_time(T0):
        for i in (1, 2, 3):
            store(app, f"ROKO U9999999{i}")
        classify_all(app)
        fourth, fifth, valid = store(app, "ROKO U99999994"), store(app, "ROKO U99999995"), store(app, "ROKO U10000001")
        stats = classify_all(app, batch_size=100)
    assert stats.batches == 1
    assert [outcomes(app)[i] for i in (fourth, fifth, valid)] == ["INVALID_CODE", "INVALID_CODE", "BLOCKED"]
    assert replies(app)[fifth] == "BLOCKED" and valid not in replies(app)  # told once, then silence


def test_a_code_sent_twice_in_one_batch_is_claimed_once(draw_app: Any) -> None:
    ids = [store(draw_app, "ROKO U10000001"), store(draw_app, "ROKO U10000001"),
           store(draw_app, "ROKO U10000001", sender=OTHER)]
    assert classify_all(draw_app, batch_size=100).batches == 1
    assert [outcomes(draw_app)[i] for i in ids] == ["VALID_FIRST", "DUPLICATE", "ALREADY_USED"]


def test_a_parked_sms_cannot_be_retried_unless_parked(draw_app: Any) -> None:
    sms_id = store(draw_app, "ROKO U10000001")
    with draw_app.app_context():
        with pytest.raises(classify.NotParked):
            classify.retry_parked(sms_id)
        with pytest.raises(classify.NotFound):
            classify.retry_parked(999_999)


# --- the worker: both jobs, apart or together -------------------------------------------------------


@pytest.fixture
def send_draw_app(make_app: Any, simulator: Any) -> Any:
    app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_RATE_PER_PORT=0, CAMPAIGN_START="",
                   CAMPAIGN_END="", TOPAZ_CONNECT_TIMEOUT=0.5, TOPAZ_READ_TIMEOUT=0.5)
    register_codes(app, "U10000001")
    return app


def test_worker_once_classifies_then_sends(send_draw_app: Any, simulator: Any) -> None:
    store(send_draw_app, "ROKO U10000001")
    result = send_draw_app.test_cli_runner().invoke(args=["roko", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 classified" in result.output and "1 sent" in result.output
    (message,) = simulator.sent(FARMER)
    assert "U10000001" in message["text"]


def test_worker_jobs_can_run_apart(send_draw_app: Any, simulator: Any) -> None:
    store(send_draw_app, "ROKO U10000001")
    runner = send_draw_app.test_cli_runner()
    assert runner.invoke(args=["roko", "worker", "--once", "--jobs", "send"]).exit_code == 0
    assert simulator.sent(FARMER) == []  # nothing classified, so no reply yet
    result = runner.invoke(args=["roko", "worker", "--once", "--jobs", "classify"])
    assert result.exit_code == 0 and "1 classified" in result.output and "sent" not in result.output
    assert simulator.sent(FARMER) == []
    assert runner.invoke(args=["roko", "worker", "--once", "--jobs", "send"]).exit_code == 0
    assert len(simulator.sent(FARMER)) == 1


@pytest.mark.parametrize("jobs", ["", "bogus", "classify,bogus"])
def test_worker_refuses_unknown_jobs(send_draw_app: Any, jobs: str) -> None:
    result = send_draw_app.test_cli_runner().invoke(args=["roko", "worker", "--once", "--jobs", jobs])
    assert result.exit_code == 2 and "--jobs" in result.output


def wait_for(predicate: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_running_worker_answers_a_new_sms_without_waiting_for_a_poll(send_draw_app: Any, simulator: Any) -> None:
    """Long-running, the classifier and the senders run side by side; the classifier
    rings the senders, so a reply does not wait for their (here 60 s) poll."""
    control = Control()

    def worker() -> None:
        with send_draw_app.app_context():
            run_jobs(send_draw_app, concurrency=1, control=control, poll_seconds=60.0)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        time.sleep(0.3)  # let the senders go idle on their 60 s poll
        store(send_draw_app, "ROKO U10000001")
        assert wait_for(lambda: len(simulator.sent(FARMER)) == 1), "the reply was not sent"
    finally:
        control.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_the_outbox_bell_wakes_an_idle_sender(send_app: Any, simulator: Any) -> None:
    control = Control()

    def sender() -> None:
        with send_app.app_context():
            Worker.from_app(send_app, control=control, poll_seconds=60.0).run()

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        time.sleep(0.3)
        with send_app.app_context():
            outbound.queue_message(phone_number=FARMER, text="Bonjour", port=17)
            db.session.commit()
        control.ring_outbox()
        assert wait_for(lambda: len(simulator.sent(FARMER)) == 1), "the idle sender did not wake"
    finally:
        control.stop()
        thread.join(timeout=30)


@pytest.mark.postgres_only
def test_postgres_wakes_the_classifier_when_an_sms_is_stored(draw_app: Any) -> None:
    from roko_app.worker.classifier import Listener

    with draw_app.app_context():
        listener = Listener(db.engine)
        listener.wait(0.01)  # connects and listens
        try:
            timer = threading.Timer(0.5, lambda: store(draw_app, "ROKO U10000001"))
            timer.start()
            started = time.monotonic()
            listener.wait(30.0)
            waited = time.monotonic() - started
            timer.join()
        finally:
            listener.close()
    assert waited < 15.0, f"the listener slept {waited:.1f} s: no notification"


@pytest.mark.postgres_only
def test_the_listener_connects_with_the_database_url_s_options(draw_app: Any) -> None:
    """sslmode=require and the like travel in the URL's query: the LISTEN connection
    must use them as the engine does (here application_name, which pg_stat_activity shows)."""
    from roko_app.worker.classifier import Listener

    name = f"roko-listen-{uuid.uuid4().hex[:8]}"
    with draw_app.app_context():
        url = db.engine.url.update_query_dict({"application_name": name})
        engine = create_engine(url)
        listener = Listener(engine)
        try:
            listener.wait(0.01)  # connects and listens
            with db.engine.connect() as conn:
                listening = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"),
                                         {"name": name}).scalar()
        finally:
            listener.close()
            engine.dispose()
    assert listening == 1


@pytest.mark.postgres_only
def test_postgres_announces_only_an_sms_it_stored_not_a_replay(draw_app: Any) -> None:
    from roko_app.worker.classifier import Listener

    store(draw_app, "ROKO U10000002", gateway_sms_id=777)
    with draw_app.app_context():
        listener = Listener(db.engine)
        listener.wait(0.01)  # connects and listens
        try:
            store(draw_app, "ROKO U10000002", gateway_sms_id=777)  # the gateway's replay: nothing stored
            started = time.monotonic()
            listener.wait(1.0)
            quiet = time.monotonic() - started
            store(draw_app, "ROKO U10000003", gateway_sms_id=778)  # a new SMS: announced
            started = time.monotonic()
            listener.wait(30.0)
            woken = time.monotonic() - started
        finally:
            listener.close()
    assert quiet >= 0.9, "a replay woke the classifiers"
    assert woken < 15.0, "a stored SMS did not"


@pytest.mark.postgres_only
def test_an_sms_committed_first_waits_for_an_earlier_one_of_its_number_still_being_stored(draw_app: Any) -> None:
    """Two requests of one number overlap on PostgreSQL: the first draws the smaller id but
    commits last. The classifier must not take the second while the first may still
    commit, or the second would be the number's first valid entry.

    The first request is held inside its statement, after its id is drawn: another
    transaction has inserted the same gateway SMS and not committed, so the insert waits
    to learn whether that one commits (the gateway sent it twice at once). It rolls back,
    and the first request then stores its SMS, last."""
    with draw_app.app_context():
        engine = db.engine
    duplicate = engine.connect()
    transaction = duplicate.begin()
    duplicate.execute(text("INSERT INTO inbound_sms (gateway_sms_id, port, sender, sender_msisdn, text, "
                           "gateway_timestamp, received_at, source) VALUES (4242, 17, :number, :number, "
                           "'ROKO U10000001', now(), now(), 'topaz')"), {"number": FARMER})
    ids: dict[str, int] = {}
    first = threading.Thread(target=lambda: ids.setdefault("first", store(draw_app, "ROKO U10000001", gateway_sms_id=4242)))
    try:
        first.start()
        # Until the first request waits for the duplicate's end; in autocommit, because a
        # transaction sees one snapshot of pg_stat_activity however often it asks.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
            deadline = time.monotonic() + 30
            while not watcher.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                           "AND wait_event = 'transactionid'")).scalar():
                assert time.monotonic() < deadline, "the first request did not wait for the duplicate"
                time.sleep(0.01)
        second = store(draw_app, "ROKO U10000002")  # the same number, committed at once
        other = store(draw_app, "bonjour", sender=OTHER)
        classify_all(draw_app)
        assert outcomes(draw_app) == {other: "BAD_FORMAT"}, "an SMS was classified before an earlier one of its number"
    finally:
        transaction.rollback()
        duplicate.close()
        first.join(timeout=30)
    assert ids["first"] < second
    assert classify_all(draw_app).classified == 2
    assert outcomes(draw_app) == {ids["first"]: "VALID_FIRST", second: "VALID_AGAIN", other: "BAD_FORMAT"}


@pytest.mark.postgres_only
def test_a_classifier_holding_a_numbers_later_sms_does_not_hold_back_its_earlier_one(draw_app: Any) -> None:
    """Two classifiers on PostgreSQL, each with one SMS of the same number: the one with the
    later SMS defers it (an earlier one is pending) and, while its transaction is still
    open, must not keep the number's lock from the one classifying the earlier SMS."""
    first, second = store(draw_app, "ROKO U10000001"), store(draw_app, "ROKO U10000002")
    settings = classify.DrawSettings.from_config(draw_app.config)
    searched, finish = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def other_classifier() -> None:
        with draw_app.app_context():
            batch = classify.claim_pending(10)  # the first SMS is held below: it takes the second
            seen["batch"] = [item.id for item in batch]
            seen["result"] = classify.classify_batch(batch, settings)
            searched.set()
            finish.wait(30)  # its transaction stays open meanwhile
            db.session.rollback()

    with draw_app.app_context():
        batch = classify.claim_pending(1)
        assert [item.id for item in batch] == [first]
        thread = threading.Thread(target=other_classifier)
        thread.start()
        try:
            assert searched.wait(30), "the other classifier did not get through its batch"
            result = classify.classify_batch(batch, settings)
            db.session.commit()
        finally:
            finish.set()
            thread.join(timeout=30)
    assert seen["batch"] == [second] and seen["result"].deferred == [second]
    assert result.outcomes == {first: "VALID_FIRST"} and result.deferred == []
    classify_all(draw_app)
    assert outcomes(draw_app) == {first: "VALID_FIRST", second: "VALID_AGAIN"}


@pytest.mark.postgres_only
def test_the_search_for_earlier_sms_runs_after_the_numbers_are_locked_then_the_locks_go(draw_app: Any) -> None:
    """A request that commits between the search and the locks would be missed: the order
    of the two statements is what the ordering rests on. After the search the batch holds
    no number's lock (webhook requests of its numbers do not wait for its commit)."""
    store(draw_app, "ROKO U10000001")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with draw_app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", seen)
        try:
            batch = classify.claim_pending(10)
            classify.classify_batch(batch, classify.DrawSettings.from_config(draw_app.config))
            held = db.session.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                           "AND pid = pg_backend_pid()")).scalar()
            db.session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    locks = next(i for i, sql in enumerate(statements) if "pg_try_advisory_xact_lock" in sql)
    search = next(i for i, sql in enumerate(statements) if "classified_at IS NULL" in sql and "NOT IN" in sql)
    assert locks < search
    assert held == 0


# --- the migration --------------------------------------------------------------------------------


def test_the_migration_keeps_sms_classified_before_it_classified(tmp_path: Path) -> None:
    """SMS classified in their request before the inbox (they have an entry) stay
    classified; an SMS without an entry is left for the worker."""
    from flask_migrate import downgrade, upgrade

    from roko_app import create_app

    url = f"sqlite:///{tmp_path / 'migrate.db'}"
    app = create_app({"ENV": "test", "DATABASE_URL": url, "SECRET_KEY": "s", "WEBHOOK_INBOUND_TOKEN": "t"})
    with app.app_context():
        upgrade(revision="9c41d7e2b5f0")
        db.engine.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        for sms_id in (1, 2):
            conn.execute(text("INSERT INTO inbound_sms (id, gateway_sms_id, port, sender, sender_msisdn, text, "
                              "gateway_timestamp, received_at, source) VALUES (:id, :id, 1, '612345678', '612345678', "
                              "'ROKO', '2026-06-01 10:00:00.000000', '2026-06-01 10:00:00.000000', 'topaz')"),
                         {"id": sms_id})
        conn.execute(text("INSERT INTO participant (id, msisdn, first_seen_at, valid_entries) "
                          "VALUES (1, '612345678', '2026-06-01 10:00:00.000000', 0)"))
        conn.execute(text("INSERT INTO entry (sms_id, participant_id, msisdn, outcome, chances, created_at) "
                          "VALUES (1, 1, '612345678', 'BAD_FORMAT', 0, '2026-06-01 10:00:01.000000')"))
    engine.dispose()
    with app.app_context():
        upgrade()
        rows = {row.id: row for row in db.session.scalars(select(InboundSms))}
        assert rows[1].classified_at == datetime(2026, 6, 1, 10, 0, 1, tzinfo=UTC)
        assert rows[2].classified_at is None and rows[2].classify_attempts == 0
        assert classify.pending_count() == 1
        db.session.remove()
        downgrade(revision="9c41d7e2b5f0")
        db.engine.dispose()
