"""The dispatch loop in this process, against the simulator on loopback: what is due,
in which order, retries and their backoff, the dead letter, lapsed leases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import OutboundSms, Priority
from roko_app.services import outbound
from roko_app.services.errors import NotFound
from roko_app.worker import LocalPacer, Worker, run_workers
from tests.factories import T0_WORKER, bulk_queue
from tests.helpers import outbox, refs, run_once, sent_refs, worker_config

T0 = T0_WORKER  # the conftest's frozen clock


def test_due_rows_are_sent_and_a_future_not_before_waits(wapp: Any, simulator: Any, frozen: Any) -> None:
    (now_id,) = bulk_queue(wapp, 1)
    (later_id,) = bulk_queue(wapp, 1, not_before=T0 + timedelta(hours=1))
    assert run_once(wapp).sent == 1
    assert sent_refs(simulator) == refs([now_id])
    later = outbox(wapp)[1]
    assert (later.status, later.attempts) == ("QUEUED", 0)

    frozen.move_to(T0 + timedelta(minutes=59, seconds=59))
    assert run_once(wapp).attempts == 0
    frozen.move_to(T0 + timedelta(hours=1))
    assert run_once(wapp).sent == 1
    assert sent_refs(simulator) == refs([now_id, later_id])
    assert [(r.status, r.attempts) for r in outbox(wapp)] == [("SENT", 1), ("SENT", 1)]


def test_replies_go_before_api_sends_before_bulk(wapp: Any, simulator: Any, frozen: Any) -> None:
    bulk = bulk_queue(wapp, 3, priority=Priority.BULK, now=T0 - timedelta(minutes=5))
    api = bulk_queue(wapp, 1, priority=Priority.API, now=T0 - timedelta(minutes=2))
    replies = bulk_queue(wapp, 2, priority=Priority.REPLY)
    stats = run_once(wapp, batch_size=2)
    assert stats.sent == 6 and stats.claims == 3
    assert sent_refs(simulator) == refs(replies + api + bulk)


def test_within_a_priority_the_longest_due_goes_first(wapp: Any, simulator: Any, frozen: Any) -> None:
    late = bulk_queue(wapp, 1, now=T0 - timedelta(minutes=1))
    early = bulk_queue(wapp, 1, now=T0 - timedelta(minutes=9))
    run_once(wapp, batch_size=1)
    assert sent_refs(simulator) == refs(early + late)


def test_transient_failures_back_off_exponentially_then_send_once_recovered(
        wapp: Any, simulator: Any, frozen: Any) -> None:
    (message_id,) = bulk_queue(wapp)
    simulator.set(mode="down")
    schedule = []
    for _ in range(3):
        assert run_once(wapp).retried == 1
        (row,) = outbox(wapp)
        assert row.status == "QUEUED" and row.last_error == "transient: gateway error (HTTP 503)"
        delay = row.next_attempt_at - datetime.now(UTC)
        schedule.append(delay)
        frozen.tick(delay - timedelta(seconds=1))
        assert run_once(wapp).attempts == 0, "not due before its backoff ends"
        frozen.tick(timedelta(seconds=1))
    assert schedule == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    simulator.set(mode="ok")
    assert run_once(wapp).sent == 1
    (row,) = outbox(wapp)
    assert (row.status, row.attempts, row.last_error, row.lease_expires_at) == ("SENT", 4, None, None)
    assert sent_refs(simulator) == refs([message_id])


def test_backoff_is_capped(make_app: Any, simulator: Any, frozen: Any) -> None:
    app = make_app(**worker_config(simulator, SEND_MAX_ATTEMPTS=10, SEND_BACKOFF_MAX_SECONDS=100))
    bulk_queue(app)
    simulator.set(mode="down")
    delays = []
    for _ in range(5):
        run_once(app)
        (row,) = outbox(app)
        delays.append((row.next_attempt_at - datetime.now(UTC)).total_seconds())
        frozen.move_to(row.next_attempt_at)
    assert delays == [30, 60, 100, 100, 100]


def test_many_attempts_keep_the_capped_backoff_without_overflow(make_app: Any, simulator: Any) -> None:
    """The base doubled 60 times would overflow a date; the delay stays at its cap."""
    app = make_app(**worker_config(simulator, SEND_MAX_ATTEMPTS=100, SEND_BACKOFF_MAX_SECONDS=600))
    policy = outbound.RetryPolicy.from_config(app.config)
    assert [policy.backoff(n) for n in (1, 5, 6, 43, 99)] == [
        timedelta(seconds=30), timedelta(seconds=480), timedelta(seconds=600), timedelta(seconds=600),
        timedelta(seconds=600)]
    largest = make_app(**worker_config(simulator, SEND_MAX_ATTEMPTS=100, SEND_BACKOFF_SECONDS=86_400,
                                       SEND_BACKOFF_MAX_SECONDS=7 * 86_400))
    policy = outbound.RetryPolicy.from_config(largest.config)
    assert [policy.backoff(n) for n in (1, 3, 4, 31, 99)] == [
        timedelta(days=1), timedelta(days=4), timedelta(days=7), timedelta(days=7), timedelta(days=7)]


def test_out_of_attempts_is_the_dead_letter_which_an_operator_can_requeue(
        make_app: Any, simulator: Any, frozen: Any) -> None:
    app = make_app(**worker_config(simulator, SEND_MAX_ATTEMPTS=3))
    (message_id,) = bulk_queue(app)
    simulator.set(mode="down")
    for _ in range(3):
        run_once(app)
        frozen.tick(timedelta(hours=1))
    (row,) = outbox(app)
    assert (row.status, row.attempts) == ("FAILED", 3)
    assert row.last_error == "gave up after 3 attempts: gateway error (HTTP 503)"
    assert run_once(app).attempts == 0, "the dead letter is not retried by itself"

    simulator.set(mode="ok")
    with app.app_context():
        outbound.requeue_failed(message_id)
        db.session.commit()
    (row,) = outbox(app)
    assert (row.status, row.attempts, row.next_attempt_at) == ("QUEUED", 0, datetime.now(UTC))
    assert run_once(app).sent == 1
    assert sent_refs(simulator) == refs([message_id])


def test_only_failed_messages_can_be_requeued(wapp: Any) -> None:
    (message_id,) = bulk_queue(wapp)
    with wapp.app_context():
        with pytest.raises(outbound.NotRequeueable):
            outbound.requeue_failed(message_id)
        with pytest.raises(NotFound):
            outbound.requeue_failed(message_id + 1000)


def test_rejected_is_failed_at_once_without_retry(wapp: Any, simulator: Any, frozen: Any) -> None:
    bulk_queue(wapp)
    simulator.set(mode="reject")
    assert run_once(wapp).failed == 1
    (row,) = outbox(wapp)
    assert (row.status, row.attempts, row.last_error) == ("FAILED", 1, "rejected by the gateway: simulated rejection")
    frozen.tick(timedelta(days=1))
    assert run_once(wapp).attempts == 0


def test_a_message_the_client_cannot_send_fails_instead_of_blocking_the_queue(
        wapp: Any, simulator: Any, frozen: Any) -> None:
    (bad,) = bulk_queue(wapp, 1, port=40)  # no such SIM port: the client refuses it
    good = bulk_queue(wapp, 1)
    stats = run_once(wapp)
    assert (stats.sent, stats.failed) == (1, 1)
    row = outbox(wapp)[0]
    assert row.id == bad and row.status == "FAILED" and row.last_error.startswith("rejected by the gateway: not sendable")
    assert sent_refs(simulator) == refs(good)


def test_a_lapsed_lease_is_reclaimed_and_the_gateway_sends_once(wapp: Any, simulator: Any, frozen: Any) -> None:
    accepted, never_sent = bulk_queue(wapp, 2)
    # A worker claims both, gets the first through the gateway, and dies before committing.
    with wapp.app_context():
        claimed = outbound.claim_due(10, policy=outbound.RetryPolicy.from_config(wapp.config))
        db.session.commit()
        assert [m.id for m in claimed] == [accepted, never_sent]
        first = claimed[0]
        result = wapp.extensions["topaz"].send(client_ref=first.client_ref, to=first.to_msisdn, text=first.text,
                                               encoding=first.encoding, port=first.port)
        original_gateway_id = result.gateway_sms_id
    lease = timedelta(seconds=wapp.config["SEND_LEASE_SECONDS"])

    frozen.tick(lease - timedelta(seconds=1))
    assert run_once(wapp).attempts == 0, "a running lease is not taken over"
    assert [r.status for r in outbox(wapp)] == ["SENDING", "SENDING"]

    frozen.tick(timedelta(seconds=1, microseconds=1))
    assert run_once(wapp).sent == 2
    rows = outbox(wapp)
    assert [(r.status, r.attempts) for r in rows] == [("SENT", 2), ("SENT", 2)]
    assert rows[0].gateway_sms_id == original_gateway_id, "the gateway recognised the client_ref"
    assert sorted(sent_refs(simulator)) == sorted(refs([accepted, never_sent])), "each SMS went out once"


def test_concurrent_claims_never_take_the_same_row(wapp: Any) -> None:
    bulk_queue(wapp, 10)
    policy = outbound.RetryPolicy.from_config(wapp.config)
    other: list[int] = []

    def second_claimer() -> None:
        with wapp.app_context():
            # PostgreSQL: skips the rows locked by the first claim; SQLite: waits for its write lock.
            other.extend(m.id for m in outbound.claim_due(6, policy=policy))
            db.session.commit()

    with wapp.app_context():
        first = [m.id for m in outbound.claim_due(6, policy=policy)]
        thread = threading.Thread(target=second_claimer)
        thread.start()
        thread.join(timeout=0.3)
        db.session.commit()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(first) == 6 and len(other) == 4 and not set(first) & set(other)
    assert [(r.status, r.attempts) for r in outbox(wapp)] == [("SENDING", 1)] * 10


def test_a_slow_throttled_batch_keeps_its_lease_and_is_never_up_for_grabs(
        make_app: Any, simulator: Any, frozen: Any) -> None:
    # 30 rows on one port at 1/s: sending takes 30 s of (frozen) time, the lease is 10 s.
    app = make_app(**worker_config(simulator, SEND_LEASE_SECONDS=10, TOPAZ_RATE_PER_PORT=1))
    ids = bulk_queue(app, 30)
    lapsed_seen: list[int] = []

    def sleep(seconds: float) -> None:
        frozen.tick(timedelta(seconds=seconds))
        with db.engine.connect() as conn:  # what another worker's claim would find
            lapsed_seen.append(conn.scalar(select(func.count()).select_from(OutboundSms).where(
                OutboundSms.status == "SENDING", OutboundSms.lease_expires_at < datetime.now(UTC))))

    with app.app_context():
        pacer = LocalPacer(1, clock=lambda: datetime.now(UTC).timestamp())
        worker = Worker(app.extensions["topaz"], outbound.RetryPolicy.from_config(app.config), pacer,
                        batch_size=30, claim_horizon=60, sleep=sleep)
        stats = worker.run(once=True)
    assert (stats.sent, stats.claims, stats.lost) == (30, 1, 0)
    assert len(lapsed_seen) == 29 and set(lapsed_seen) == {0}
    assert datetime.now(UTC) - T0 == timedelta(seconds=29)
    assert [(r.status, r.attempts) for r in outbox(app)] == [("SENT", 1)] * 30
    assert sent_refs(simulator) == refs(ids)


def test_a_sender_whose_lease_lapsed_mid_send_leaves_the_row_to_its_new_owner(
        make_app: Any, simulator: Any, frozen: Any) -> None:
    app = make_app(**worker_config(simulator, SEND_LEASE_SECONDS=10))
    (message_id,) = bulk_queue(app)
    real_client = app.extensions["topaz"]

    class StallingClient:
        """Sends, then the process 'stalls' past its lease while another worker reclaims."""

        connect_timeout, read_timeout = real_client.connect_timeout, real_client.read_timeout

        def send(self, **kwargs: Any) -> Any:
            result = real_client.send(**kwargs)
            frozen.tick(timedelta(seconds=11))
            rival = threading.Thread(target=self.reclaim)
            rival.start()
            rival.join(timeout=10)
            return result

        @staticmethod
        def reclaim() -> None:
            with app.app_context():
                assert [m.id for m in outbound.claim_due(5)] == [message_id]
                db.session.commit()

    with app.app_context():
        worker = Worker(StallingClient(), outbound.RetryPolicy.from_config(app.config), LocalPacer(0))  # type: ignore[arg-type]
        stats = worker.run(once=True)
    assert (stats.sent, stats.lost) == (0, 1)
    (row,) = outbox(app)
    assert (row.status, row.attempts) == ("SENDING", 2), "the late outcome did not overwrite the new claim"


def test_stopping_releases_the_claimed_but_unsent_rows(wapp: Any, simulator: Any) -> None:
    bulk_queue(wapp, 10)
    stats = run_once(wapp, batch_size=10, max_messages=3)
    assert (stats.sent, stats.released) == (3, 7)
    rows = outbox(wapp)
    assert [(r.status, r.attempts) for r in rows] == [("SENT", 1)] * 3 + [("QUEUED", 0)] * 7
    assert all(r.lease_expires_at is None for r in rows)
    assert run_once(wapp).sent == 7


def test_outage_then_recovery_sends_every_message_exactly_once(make_app: Any, simulator: Any, frozen: Any) -> None:
    app = make_app(**worker_config(simulator, SEND_MAX_ATTEMPTS=10))
    ids = bulk_queue(app, 40)
    phases = [{"mode": "down"}] * 2 + [{"mode": "ok", "fail_rate": 0.5}] * 3 + [{"fail_rate": 0.0}]
    for settings in phases:  # down, then flapping on the way back, then healthy
        simulator.set(**settings)
        run_once(app)
        frozen.tick(timedelta(hours=1))
    rows = outbox(app)
    assert {r.status for r in rows} == {"SENT"}
    assert max(r.attempts for r in rows) > 3, "some messages needed several retries"
    assert sorted(sent_refs(simulator)) == sorted(refs(ids))


def test_sending_threads_share_the_queue_without_duplicates(wapp: Any, simulator: Any) -> None:
    ids = bulk_queue(wapp, 90)
    stats = run_workers(wapp, concurrency=3, once=True, batch_size=5, max_messages=80)
    assert stats.sent == 80
    assert run_workers(wapp, concurrency=3, once=True, batch_size=5).sent == 10
    rows = outbox(wapp)
    assert [(r.status, r.attempts) for r in rows] == [("SENT", 1)] * 90
    assert sorted(sent_refs(simulator)) == sorted(refs(ids))


def test_a_failing_database_is_retried_with_backoff_and_quiet_logs(wapp: Any, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy.exc import OperationalError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT ...", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(outbound, "claim_due", broken)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 8:
            worker.stop()

    with wapp.app_context():
        worker = Worker.from_app(wapp, poll_seconds=0.5, sleep=sleep)
        worker.run()
        with pytest.raises(OperationalError):
            Worker.from_app(wapp).run(once=True)  # --once: the error is the exit status
    assert slept == [1, 2, 4, 8, 16, 32, 60, 60]
    errors = [r for r in caplog.records if r.name.startswith("roko_app.worker")]
    assert len(errors) == 8 and [bool(r.exc_info) for r in errors] == [True] + [False] * 7


def test_the_lease_must_outlast_a_send(make_app: Any, simulator: Any) -> None:
    app = make_app(**worker_config(simulator, SEND_LEASE_SECONDS=1, TOPAZ_CONNECT_TIMEOUT=0.5,
                                   TOPAZ_READ_TIMEOUT=0.5))
    with app.app_context(), pytest.raises(ValueError, match="SEND_LEASE_SECONDS"):
        Worker.from_app(app)
    result = app.test_cli_runner().invoke(args=["roko", "worker", "--once"])
    assert result.exit_code != 0 and "SEND_LEASE_SECONDS" in result.output


def test_worker_command_once(wapp: Any, simulator: Any) -> None:
    ids = bulk_queue(wapp, 3)
    result = wapp.test_cli_runner().invoke(args=["roko", "worker", "--once", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "worker: 3 sent, 0 to retry, 0 failed" in result.output
    assert sorted(sent_refs(simulator)) == sorted(refs(ids)), "sent by 4 threads (the default), each once"


def test_one_log_line_per_outcome_without_number_or_text(wapp: Any, simulator: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    (message_id,) = bulk_queue(wapp, 1)
    caplog.set_level("INFO", logger="roko_app.worker")
    run_once(wapp)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("roko_app.worker")]
    assert lines == [f"outbound {message_id} SENT attempt=1 port=17 gateway_sms_id=1"]
    row = outbox(wapp)[0]
    assert all(row.to_msisdn not in r.getMessage() and row.text not in r.getMessage() for r in caplog.records)
