"""The same SMS arriving on many connections at once, through a real gunicorn server, then
classified by several classifiers at once (threads, each with its own connection).

Runs on the suite's backend: SQLite in the SQLite run, PostgreSQL in the PostgreSQL run.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import InboundDiscrepancy, InboundSms
from roko_app.services import classify
from roko_app.worker import Classifier
from tests.helpers import SEED_EXAMPLE, URL, WEBHOOK_TOKEN, text_in

CONNECTIONS = 24
ROUNDS = 5
CLASSIFIERS = 4


def classify_in_parallel(app: Any, classifiers: int = CLASSIFIERS, batch_size: int = 3) -> None:
    """Run ``classifiers`` classifiers at once until each finds nothing more to do."""
    errors: list[BaseException] = []

    def one() -> None:
        with app.app_context():
            try:
                Classifier.from_app(app, batch_size=batch_size).run(once=True)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(classifiers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    with app.app_context():
        assert classify.pending_count() == 0


def fire_at_once(url: str, bodies: list[dict[str, Any]]) -> list[requests.Response]:
    barrier = threading.Barrier(len(bodies))

    def one(body: dict[str, Any]) -> requests.Response:
        with requests.Session() as session:
            session.get(url + "/healthz", timeout=10)  # open the connection before the barrier
            barrier.wait(timeout=30)
            return session.post(url + URL, json=body, headers={"X-Roko-Webhook-Token": WEBHOOK_TOKEN}, timeout=30)

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_concurrent_identical_deliveries_store_one_row(live_server: Any, app: Any) -> None:
    url = live_server(workers=3, threads=8)
    for round_ in range(ROUNDS):
        body = {**SEED_EXAMPLE, "gateway_sms_id": 5000 + round_}
        responses = fire_at_once(url, [body] * CONNECTIONS)
        assert [r.status_code for r in responses] == [200] * CONNECTIONS, [r.text for r in responses if r.status_code != 200]
        ids = {r.json()["sms_id"] for r in responses}
        assert len(ids) == 1, ids
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InboundSms)) == ROUNDS
        assert db.session.scalar(select(func.count()).select_from(InboundDiscrepancy)) == 0


def test_concurrent_differing_deliveries_keep_one_row_and_record_discrepancies(live_server: Any, app: Any) -> None:
    url = live_server(workers=3, threads=8)
    bodies = [{**SEED_EXAMPLE, "gateway_sms_id": 7000, "text": f"ROKO U1234567{i % 3}"} for i in range(CONNECTIONS)]
    responses = fire_at_once(url, bodies)
    assert [r.status_code for r in responses] == [200] * CONNECTIONS, [r.text for r in responses if r.status_code != 200]
    assert len({r.json()["sms_id"] for r in responses}) == 1
    with app.app_context():
        (row,) = db.session.scalars(select(InboundSms))
        stored_text = row.text
        noted = {d.payload["text"] for d in db.session.scalars(select(InboundDiscrepancy))}
    # The first writer's text is kept; each of the two other texts is recorded exactly once.
    assert noted == {f"ROKO U1234567{i}" for i in range(3)} - {stored_text}


def test_concurrent_deliveries_create_one_entry_and_one_reply(live_server: Any, app: Any) -> None:
    from roko_app.models import Code, Entry, OutboundSms
    from roko_app.services.code_registry import hash_code

    with app.app_context():
        db.session.add(Code(code_hash=hash_code("U10000001", app.config["CODE_KEY"]), batch="T"))
        db.session.commit()
    url = live_server(workers=3, threads=8)
    body = {**SEED_EXAMPLE, "gateway_sms_id": 9000, "text": "ROKO U10000001"}
    responses = fire_at_once(url, [body] * CONNECTIONS)
    assert {r.status_code for r in responses} == {200}
    classify_in_parallel(app)
    with app.app_context():
        (entry,) = db.session.scalars(select(Entry))
        (reply,) = db.session.scalars(select(OutboundSms))
        assert entry.outcome == "VALID_FIRST" and reply.reply_to_sms_id == entry.sms_id


def test_one_number_sending_many_codes_at_once_gets_exact_chances(live_server: Any, app: Any) -> None:
    from roko_app.models import Code, Entry, Participant
    from roko_app.services.code_registry import hash_code

    codes = [f"U2000{i:04d}" for i in range(CONNECTIONS)]
    with app.app_context():
        for code in codes:
            db.session.add(Code(code_hash=hash_code(code, app.config["CODE_KEY"]), batch="T"))
        db.session.commit()
    url = live_server(workers=3, threads=8)
    bodies = [{**SEED_EXAMPLE, "gateway_sms_id": 9100 + i, "text": f"ROKO {code}"} for i, code in enumerate(codes)]
    assert {r.status_code for r in fire_at_once(url, bodies)} == {200}
    classify_in_parallel(app)
    with app.app_context():
        entries = list(db.session.scalars(select(Entry).order_by(Entry.sms_id)))
        (farmer,) = db.session.scalars(select(Participant))
    # Classified in the order the SMS arrived, whichever classifier took each one.
    assert [e.outcome for e in entries] == ["VALID_FIRST"] + ["VALID_AGAIN"] * (CONNECTIONS - 1)
    assert [e.chances for e in entries] == list(range(1, CONNECTIONS + 1))
    assert farmer.valid_entries == CONNECTIONS


def test_many_numbers_racing_for_one_code_only_one_wins(live_server: Any, app: Any) -> None:
    from roko_app.models import Code, Entry
    from roko_app.services.code_registry import hash_code

    with app.app_context():
        db.session.add(Code(code_hash=hash_code("U30000001", app.config["CODE_KEY"]), batch="T"))
        db.session.commit()
    url = live_server(workers=3, threads=8)
    bodies = [{**SEED_EXAMPLE, "gateway_sms_id": 9300 + i, "sender": f"6{i:08d}", "text": "ROKO U30000001"}
              for i in range(CONNECTIONS)]
    assert {r.status_code for r in fire_at_once(url, bodies)} == {200}
    classify_in_parallel(app)
    with app.app_context():
        outcomes = sorted(e.outcome for e in db.session.scalars(select(Entry)))
        (code,) = db.session.scalars(select(Code))
        winner = db.session.scalars(select(Entry).where(Entry.outcome == "VALID_FIRST")).one()
    assert outcomes == ["ALREADY_USED"] * (CONNECTIONS - 1) + ["VALID_FIRST"]
    assert code.used_by == winner.msisdn


def test_many_new_numbers_classified_by_several_classifiers_keep_their_order(app: Any) -> None:
    """New numbers (their participant rows are created by whichever classifier gets there
    first), each with a few SMS, shared by classifiers taking small batches: no deadlock,
    no error, and every number's SMS counted in the order they arrived."""
    from roko_app.models import Code, Entry
    from roko_app.services.code_registry import hash_code

    numbers = [f"62{i:07d}" for i in range(40)]
    with app.app_context():
        for i in range(len(numbers) * 3):
            db.session.add(Code(code_hash=hash_code(f"U4{i:07d}", app.config["CODE_KEY"]), batch="T"))
        db.session.commit()
    for round_ in range(3):  # interleaved: each number's SMS are spread over the queue
        for n, number in enumerate(numbers):
            text_in(app, f"ROKO U4{round_ * len(numbers) + n:07d}", number, classify=False)
    classify_in_parallel(app, batch_size=7)
    with app.app_context():
        entries = list(db.session.scalars(select(Entry).order_by(Entry.sms_id)))
    by_number: dict[str, list[tuple[str, int]]] = {}
    for entry in entries:
        by_number.setdefault(entry.msisdn, []).append((entry.outcome, entry.chances))
    assert len(entries) == 3 * len(numbers)
    assert all(seq == [("VALID_FIRST", 1), ("VALID_AGAIN", 2), ("VALID_AGAIN", 3)] for seq in by_number.values())
