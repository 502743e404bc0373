"""The To review page: parked SMS with their error, and a button that sends one back to the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, InboundSms

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def add_parked(app: Any, n: int = 1, **values: Any) -> list[int]:
    ids = []
    with app.app_context():
        for i in range(n):
            sms = InboundSms(gateway_sms_id=700 + i, port=17, sender="612345678", sender_msisdn="612345678",
                             text=f"ROKO texte {i}", gateway_timestamp=T0, received_at=T0, source="topaz",
                             classify_attempts=3, classify_error="RuntimeError: a bug in the rules",
                             parked_at=T0 + timedelta(minutes=i), **values)
            db.session.add(sms)
            db.session.flush()
            ids.append(sms.id)
        db.session.commit()
    return ids


def csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    return html.split(marker, 1)[1].split('"', 1)[0]


def test_the_page_lists_parked_sms_with_their_error(console_app: Any, login: Any) -> None:
    (parked,) = add_parked(console_app)
    with console_app.app_context():  # a classified SMS and one still waiting are not listed
        db.session.add(InboundSms(gateway_sms_id=1, port=17, sender="622334455", sender_msisdn="622334455",
                                  text="ROKO U1", gateway_timestamp=T0, received_at=T0, source="topaz",
                                  classified_at=T0))
        db.session.add(InboundSms(gateway_sms_id=2, port=17, sender="622334455", sender_msisdn="622334455",
                                  text="ROKO U2", gateway_timestamp=T0, received_at=T0, source="topaz"))
        db.session.commit()
    html = login("viewer").get("/console/inbox").get_data(as_text=True)
    assert f'id="sms-{parked}"' in html and html.count('id="sms-') == 1
    assert "RuntimeError: a bug in the rules" in html and "ROKO texte 0" in html
    assert "2 SMS" in html  # not classified yet: the parked one and the waiting one
    assert "inbox_retry" not in html and f"/console/inbox/{parked}/retry" not in html  # viewers cannot retry


def test_the_page_is_paged(console_app: Any, login: Any) -> None:
    add_parked(console_app, 3)
    client = login("operator")
    first = client.get("/console/inbox?limit=2").get_data(as_text=True)
    assert first.count('id="sms-') == 2 and 'rel="next"' in first
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert second.count('id="sms-') == 1 and 'rel="next"' not in second


def test_an_operator_sends_a_parked_sms_back_to_the_worker(console_app: Any, login: Any) -> None:
    (parked,) = add_parked(console_app)
    client = login("operator")
    page = client.get("/console/inbox").get_data(as_text=True)
    response = client.post(f"/console/inbox/{parked}/retry", data={"csrf_token": csrf(page)})
    assert response.status_code == 302
    with console_app.app_context():
        sms = db.session.get(InboundSms, parked)
        assert (sms.parked_at, sms.classify_after, sms.classify_attempts) == (None, None, 0)
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.classify_retry"))
        assert (event.actor, event.target) == ("operator@roko.test", str(parked))
    again = client.post(f"/console/inbox/{parked}/retry", data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert again.status_code == 200  # no longer parked: said so, nothing changed
    assert client.post("/console/inbox/999999/retry", data={"csrf_token": csrf(page)}).status_code == 404


def test_a_viewer_cannot_retry_and_csrf_is_required(console_app: Any, login: Any) -> None:
    (parked,) = add_parked(console_app)
    viewer = login("viewer")
    page = viewer.get("/console/inbox").get_data(as_text=True)
    assert viewer.post(f"/console/inbox/{parked}/retry", data={"csrf_token": csrf(page)}).status_code == 403
    operator = login("operator")
    assert operator.post(f"/console/inbox/{parked}/retry").status_code == 400
    with console_app.app_context():
        assert db.session.get(InboundSms, parked).parked_at is not None
