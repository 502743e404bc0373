"""The Campaigns page: batches, progress, recipients and rejections; cancel (audited)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, OutboundSms
from roko_app.web.credentials import sign
from tests.console.conftest import csrf_from


def push_batch(app: Any) -> int:
    body = json.dumps({"batchId": "promo-juin", "requestId": "r1",
                       "metadata": {"campaignId": "C-42", "scheduledTime": 4102444800000},  # 2100: stays queued
                       "recipients": [{"message": "Promo ROKO", "mobileNumber": "612345678", "customerId": "c1"},
                                      {"message": "Promo ROKO", "mobileNumber": "622334455", "customerId": "c2"},
                                      {"message": "Promo ROKO", "mobileNumber": "999", "customerId": "c3"}]}).encode()
    response = app.test_client().post("/api/v1/webhooks/optimove/campaigns", data=body, headers={
        "Content-Type": "application/json", "X-API-Key": app.config["OPTIMOVE_API_KEY"],
        "x-hub-signature": sign(body, app.config["OPTIMOVE_HMAC_SECRET"])})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        return db.session.scalars(select(OutboundSms.campaign_batch_id)).first()


def test_viewer_sees_batches_with_counts_and_progress(console_app: Any, login: Any) -> None:
    batch_id = push_batch(console_app)
    client = login("viewer")
    page = client.get("/console/campaigns").get_data(as_text=True)
    assert "promo-juin" in page and "C-42" in page
    detail = client.get(f"/console/campaigns/{batch_id}")
    assert detail.status_code == 200
    html = detail.get_data(as_text=True)
    assert "612345678" in html and "c2" in html and "INVALID_NUMBER" in html
    assert "/cancel" not in html, "a viewer gets no cancel button"
    assert client.post(f"/console/campaigns/{batch_id}/cancel",
                       data={"csrf_token": csrf_from(html)}).status_code == 403


def test_operator_cancels_unsent_messages_and_it_is_audited(console_app: Any, login: Any) -> None:
    batch_id = push_batch(console_app)
    client = login("operator")
    html = client.get(f"/console/campaigns/{batch_id}").get_data(as_text=True)
    assert f"/console/campaigns/{batch_id}/cancel" in html
    assert client.post(f"/console/campaigns/{batch_id}/cancel").status_code == 400  # no CSRF token
    response = client.post(f"/console/campaigns/{batch_id}/cancel", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 302
    with console_app.app_context():
        assert set(db.session.scalars(select(OutboundSms.status))) == {"CANCELLED"}
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.cancel"))
        assert event.actor == "operator@roko.test" and event.details == {"cancelled": 2}


def test_anonymous_is_sent_to_login_and_unknown_batch_is_404(console_app: Any, login: Any) -> None:
    assert console_app.test_client().get("/console/campaigns").status_code == 302
    assert login("viewer").get("/console/campaigns/999999").status_code == 404
