"""Console: the calls to Optimove by state, the dead letter first, and sending one again
(operators only, with CSRF, audited)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, OptimoveCallback
from tests.factories import T0
from tests.helpers import csrf_from


@pytest.fixture
def calls(console_app: Any) -> dict[str, int]:
    ids = {}
    with console_app.app_context():
        for minute, (state, key) in enumerate([("DEAD", "dlr:1:DELIVERED"), ("PENDING", "mo:7"),
                                               ("SENT", "handshake:x"), ("DEAD", "dlr:2:EXPIRED")]):
            call = OptimoveCallback(kind="delivery-report", idempotency_key=key, body='{"type":{}}', state=state,
                                    attempts=1, next_attempt_at=T0, last_status=422 if state == "DEAD" else None,
                                    last_error="HTTP 422: bad metadata" if state == "DEAD" else None,
                                    created_at=T0 + timedelta(minutes=minute))
            db.session.add(call)
            db.session.flush()
            ids[key] = call.id
        db.session.commit()
    return ids


def rows(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="callback-(\d+)"', html)]


def test_the_dead_letter_is_shown_first_with_counts_in_french(login: Any, calls: dict[str, int]) -> None:
    html = login("viewer").get("/console/optimove").get_data(as_text=True)
    assert "<h1>Appels à Optimove</h1>" in html
    assert rows(html) == [calls["dlr:2:EXPIRED"], calls["dlr:1:DELIVERED"]]
    assert "Refusés (2)" in html and "En attente (1)" in html and "HTTP 422" in html
    assert "Renvoyer" not in html, "viewers do not retry"
    assert 'href="/console/optimove"' in html, "in the menu"
    waiting = login("viewer").get("/console/optimove?state=PENDING").get_data(as_text=True)
    assert rows(waiting) == [calls["mo:7"]]


def test_an_operator_sends_a_refused_call_again(console_app: Any, login: Any, calls: dict[str, int]) -> None:
    client = login("operator")
    html = client.get("/console/optimove").get_data(as_text=True)
    call_id = calls["dlr:1:DELIVERED"]
    response = client.post(f"/console/optimove/{call_id}/retry", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 302
    with console_app.app_context():
        assert db.session.get(OptimoveCallback, call_id).state == "PENDING"
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "optimove.retry"))
        assert (event.actor, event.target) == ("operator@roko.test", str(call_id))
    sent = client.post(f"/console/optimove/{calls['handshake:x']}/retry", data={"csrf_token": csrf_from(html)})
    assert sent.status_code == 302
    assert "déjà passé" in client.get("/console/optimove").get_data(as_text=True)
    assert client.post("/console/optimove/999999/retry", data={"csrf_token": csrf_from(html)}).status_code == 404


def test_retrying_needs_an_operator_and_csrf(login: Any, calls: dict[str, int]) -> None:
    call_id = calls["dlr:1:DELIVERED"]
    viewer = login("viewer")
    token = csrf_from(viewer.get("/console/optimove").get_data(as_text=True))
    assert viewer.post(f"/console/optimove/{call_id}/retry", data={"csrf_token": token}).status_code == 403
    assert login("operator").post(f"/console/optimove/{call_id}/retry").status_code == 400
