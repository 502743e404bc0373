"""Delivery truth in the worker: SENT messages without a report become UNREPORTED after
DLR_EXPIRY_HOURS (the sweep), and the status query before giving up on a message that
may have gone out (issue 12, item 8)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from werkzeug.serving import make_server

from roko_app.extensions import db
from roko_app.gateway.simulator import start_in_thread
from roko_app.models import OutboundSms
from roko_app.services import delivery, outbound
from roko_app.worker import Control
from tests.factories import T0_WORKER, add_outbound, bulk_queue
from tests.helpers import SIM_TOKEN, STATUS_URL, WEBHOOK_TOKEN, outbox, run_once, worker_config, worker_process

T0 = T0_WORKER  # the conftest's frozen clock
EXPIRY = timedelta(hours=48)


def add_messages(app: Any, *statuses: str, sent_at: datetime = T0) -> list[int]:
    with app.app_context():
        ids = [add_outbound("612345678", "Merci", sent_at - timedelta(seconds=2), status=status).id
               for status in statuses]
        db.session.execute(update(OutboundSms).where(OutboundSms.id.in_(ids)).values(sent_at=sent_at))
        db.session.commit()
    return ids


def expire(app: Any, now: datetime, batch_size: int = 1000) -> int:
    with app.app_context():
        moved = delivery.expire_unreported(EXPIRY, now, batch_size=batch_size)
        db.session.commit()
        return moved


def statuses(app: Any) -> list[str]:
    return [message.status for message in outbox(app)]


def test_sent_without_a_report_becomes_unreported_only_after_48_hours(app: Any) -> None:
    add_messages(app, "SENT")
    assert expire(app, T0 + EXPIRY) == 0, "48 h exactly: not yet"
    assert statuses(app) == ["SENT"]
    assert expire(app, T0 + EXPIRY + timedelta(microseconds=1)) == 1
    assert statuses(app) == ["UNREPORTED"]
    assert expire(app, T0 + EXPIRY * 2) == 0, "idempotent"


def test_only_sent_messages_become_unreported(app: Any) -> None:
    kept = ["QUEUED", "SENDING", "DELIVERED", "UNDELIVERED", "EXPIRED", "FAILED", "UNCERTAIN", "CANCELLED"]
    add_messages(app, *kept, "SENT")
    assert expire(app, T0 + timedelta(days=30)) == 1
    assert statuses(app) == [*kept, "UNREPORTED"]


def test_the_sweep_goes_in_batches(app: Any) -> None:
    add_messages(app, *["SENT"] * 5)
    later = T0 + timedelta(days=3)
    assert [expire(app, later, batch_size=2) for _ in range(4)] == [2, 2, 1, 0]
    assert set(statuses(app)) == {"UNREPORTED"}


def test_the_worker_sweeps_every_dlr_sweep_seconds(make_app: Any, simulator: Any, frozen: Any) -> None:
    app = make_app(**worker_config(simulator, DLR_EXPIRY_HOURS=1, DLR_SWEEP_SECONDS=600))
    (early,) = add_messages(app, "SENT", sent_at=T0 - timedelta(hours=1, seconds=1))
    (late,) = add_messages(app, "SENT", sent_at=T0 - timedelta(minutes=59))
    control = Control()  # shared, as by the threads of one process
    run_once(app, control=control)
    assert statuses(app) == ["UNREPORTED", "SENT"]
    frozen.tick(timedelta(minutes=5))
    run_once(app, control=control)
    assert statuses(app) == ["UNREPORTED", "SENT"], "not swept again before DLR_SWEEP_SECONDS"
    frozen.tick(timedelta(minutes=5))
    run_once(app, control=control)
    assert statuses(app) == ["UNREPORTED", "UNREPORTED"]
    assert [early, late] == [message.id for message in outbox(app)]


# --- issue 12, item 8: the status query before giving up -------------------------------------


def die_after_sending(app: Any, *, send: bool = True) -> tuple[int, int | None]:
    """A worker claims the one queued message, the gateway accepts it (unless not
    ``send``), and the worker dies before recording anything: a SENDING row whose lease
    will lapse. The message's id and the gateway's id."""
    with app.app_context():
        (message,) = outbound.claim_due(10, policy=outbound.RetryPolicy.from_config(app.config))
        db.session.commit()
        gateway_id = None
        if send:
            result = app.extensions["topaz"].send(client_ref=message.client_ref, to=message.to_msisdn,
                                                  text=message.text, encoding=message.encoding, port=message.port)
            assert result.is_sent
            gateway_id = result.gateway_sms_id
        return message.id, gateway_id


def lapse_the_lease(app: Any, frozen: Any) -> None:
    frozen.tick(timedelta(seconds=app.config["SEND_LEASE_SECONDS"], microseconds=1))


@pytest.fixture
def last_try(make_app: Any, simulator: Any) -> Any:
    """The reclaiming worker has one attempt left (the dead one used the first)."""
    return make_app(**worker_config(simulator, SEND_MAX_ATTEMPTS=2))


def test_a_message_the_gateway_took_before_its_worker_died_is_not_failed_when_only_503s_follow(
        last_try: Any, simulator: Any, frozen: Any) -> None:
    bulk_queue(last_try, 1)
    message_id, gateway_id = die_after_sending(last_try)
    lapse_the_lease(last_try, frozen)
    simulator.set(mode="down")  # every send now answers 503; the status query still answers
    stats = run_once(last_try)
    assert stats.sent == 1
    (message,) = outbox(last_try)
    assert (message.status, message.gateway_sms_id, message.attempts) == ("SENT", gateway_id, 2)
    assert message.maybe_sent and message.sent_at == datetime.now(UTC)
    assert len(simulator.sent()) == 1


def test_when_the_gateway_cannot_be_asked_either_the_message_is_uncertain_not_failed(
        last_try: Any, simulator: Any, frozen: Any) -> None:
    bulk_queue(last_try, 1)
    message_id, gateway_id = die_after_sending(last_try)
    lapse_the_lease(last_try, frozen)
    simulator.set(mode="down", status_mode="down")  # the reclaiming worker meets only 503s
    stats = run_once(last_try)
    (message,) = outbox(last_try)
    assert (stats.sent, stats.failed) == (0, 1)
    assert message.status == "UNCERTAIN"
    assert message.last_error.startswith("gave up after 2 attempts: gateway error (HTTP 503); an earlier attempt "
                                         "may have gone out and the gateway could not be asked")

    simulator.set(status_mode="ok")
    frozen.tick(timedelta(seconds=59))
    run_once(last_try)
    assert outbox(last_try)[0].status == "UNCERTAIN", "asked again only after DLR_SWEEP_SECONDS"
    frozen.tick(timedelta(seconds=1))
    run_once(last_try)
    (message,) = outbox(last_try)
    assert (message.status, message.gateway_sms_id) == ("SENT", gateway_id)
    assert len(simulator.sent()) == 1


def test_a_message_the_gateway_never_took_is_failed_after_asking(last_try: Any, simulator: Any, frozen: Any) -> None:
    bulk_queue(last_try, 1)
    die_after_sending(last_try, send=False)  # died before calling the gateway
    lapse_the_lease(last_try, frozen)
    simulator.set(mode="down")
    run_once(last_try)
    (message,) = outbox(last_try)
    assert message.status == "FAILED"
    assert message.last_error == "gave up after 2 attempts: gateway error (HTTP 503); the gateway has no record of it"


def test_503s_alone_fail_without_asking(last_try: Any, simulator: Any, frozen: Any) -> None:
    bulk_queue(last_try, 1)
    simulator.set(mode="down", status_mode="down")
    for _ in range(2):
        run_once(last_try)
        frozen.tick(timedelta(hours=1))
    assert outbox(last_try)[0].status == "FAILED", "nothing suggested it went out"


def test_a_read_timeout_on_the_last_attempt_is_checked_then_settled(make_app: Any, simulator: Any,
                                                                    frozen: Any) -> None:
    app = make_app(**worker_config(simulator, SEND_MAX_ATTEMPTS=1))
    bulk_queue(app, 1)
    simulator.set(latency_ms=800)  # longer than the read timeout (0.5 s): the gateway takes it after we gave up
    run_once(app)
    (message,) = outbox(app)
    assert message.status == "UNCERTAIN" and message.maybe_sent, "asked too soon: no record yet is not proof"
    deadline = time.monotonic() + 5
    while not simulator.sent() and time.monotonic() < deadline:
        time.sleep(0.05)
    frozen.tick(timedelta(minutes=1))
    run_once(app)
    (message,) = outbox(app)
    assert (message.status, message.gateway_sms_id) == ("SENT", simulator.sent()[0]["gateway_sms_id"])


def test_an_uncertain_message_the_gateway_does_not_know_is_sent_again_once(last_try: Any, simulator: Any,
                                                                           frozen: Any) -> None:
    bulk_queue(last_try, 1)
    die_after_sending(last_try, send=False)
    lapse_the_lease(last_try, frozen)
    simulator.set(mode="down", status_mode="down")
    run_once(last_try)
    assert outbox(last_try)[0].status == "UNCERTAIN"
    simulator.set(mode="ok", status_mode="ok")
    frozen.tick(timedelta(minutes=1))
    run_once(last_try)  # the sweep re-queues it (404: never sent), then the worker sends it
    (message,) = outbox(last_try)
    assert (message.status, message.attempts) == ("SENT", 1)
    assert [m["client_ref"] for m in simulator.sent()] == [f"roko-out-{message.id}"]


def test_an_operator_can_requeue_an_uncertain_message_and_it_goes_out_once(last_try: Any, simulator: Any,
                                                                           frozen: Any) -> None:
    bulk_queue(last_try, 1)
    message_id, gateway_id = die_after_sending(last_try)
    lapse_the_lease(last_try, frozen)
    simulator.set(mode="down", status_mode="down")
    run_once(last_try)
    assert outbox(last_try)[0].status == "UNCERTAIN"
    simulator.set(mode="ok")
    with last_try.app_context():
        outbound.requeue_failed(message_id)
        db.session.commit()
    assert run_once(last_try).sent == 1
    (message,) = outbox(last_try)
    assert (message.status, message.gateway_sms_id) == ("SENT", gateway_id), "the gateway answered 'duplicate'"
    assert len(simulator.sent()) == 1


def test_a_killed_worker_process_then_only_503s_fails_nothing_the_gateway_took(
        wapp: Any, simulator: Any, tmp_path: Path) -> None:
    """The defect as found: a real worker process killed mid-batch, the gateway then
    answering every send with 503 to the worker that reclaims the rows."""
    ids = bulk_queue(wapp, 12)
    simulator.set(latency_ms=150)
    env = {"ROKO_SEND_LEASE_SECONDS": "2", "ROKO_SEND_MAX_ATTEMPTS": "1"}
    log_path = tmp_path / "worker.log"
    victim = worker_process(wapp, simulator, "--batch-size", "12", log_path=log_path, **env)
    try:
        deadline = time.monotonic() + 30
        while len(simulator.sent()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        # The next send stays in flight (under the worker's 1 s read timeout) when the kill comes;
        # the gateway records it after the worker died.
        simulator.set(latency_ms=1500)
        time.sleep(0.6)
        victim.send_signal(signal.SIGKILL)
    finally:
        victim.wait(timeout=10)
        victim.stdout.close()  # type: ignore[union-attr]
    time.sleep(1.6)  # the send in flight reaches the gateway's record after its latency
    stuck = [r for r in outbox(wapp) if r.status == "SENDING"]
    taken = {m["client_ref"] for m in simulator.sent()}
    assert any(f"roko-out-{r.id}" in taken for r in stuck), "the kill left a row the gateway took, unrecorded"
    time.sleep(max(0.0, (max(r.lease_expires_at for r in stuck) - datetime.now(UTC)).total_seconds()) + 0.1)
    simulator.set(latency_ms=0, mode="down")
    reclaimer = worker_process(wapp, simulator, "--once", log_path=log_path, **env)
    reclaimer.communicate(timeout=60)
    assert reclaimer.returncode == 0, log_path.read_text()[-3000:]

    rows = {f"roko-out-{r.id}": r for r in outbox(wapp)}
    assert set(rows) == {f"roko-out-{i}" for i in ids}
    assert all(rows[ref].status == "SENT" for ref in taken), {ref: rows[ref].status for ref in taken}
    assert all(r.status == "FAILED" for ref, r in rows.items() if ref not in taken), "never taken: failed, honestly"


# --- the simulator's reports reach the app ---------------------------------------------------------


@pytest.fixture
def served(make_app: Any) -> Iterator[tuple[Any, str]]:
    """An app served on a loopback port in this process (the simulator posts to it)."""
    app = make_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_the_simulators_reports_reach_the_app_and_settle_every_message(make_app: Any, served: Any) -> None:
    app, base_url = served
    with start_in_thread(token=SIM_TOKEN, seed=2, dlr_url=base_url + STATUS_URL, webhook_token=WEBHOOK_TOKEN,
                         dlr_delay_ms=50, dlr_fail_rate=0.3, dlr_expire_rate=0.2, dlr_twice=True) as sim:
        sender = make_app(**worker_config(sim))
        ids = bulk_queue(sender, 30)
        assert run_once(sender).sent == 30
        deadline = time.monotonic() + 10
        while any(message.status == "SENT" for message in outbox(app)):
            assert time.monotonic() < deadline, "the reports did not settle every message"
            time.sleep(0.05)
        time.sleep(0.2)  # the second copy of the last reports
        posts = sim.reports()
    assert all(post["status"] == 200 for post in posts)
    said = {report["client_ref"]: report["status"] for post in posts for report in post["reports"]}
    ours = {"delivered": "DELIVERED", "failed": "UNDELIVERED", "expired": "EXPIRED"}
    assert {f"roko-out-{m.id}": m.status for m in outbox(app)} == {ref: ours[s] for ref, s in said.items()}
    assert set(said.values()) == set(ours), "all three outcomes occurred"
    assert sorted(said) == sorted(f"roko-out-{i}" for i in ids)
