"""The Campaigns page: batches, progress, recipients and rejections; cancel (audited)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, CampaignRejection, OutboundSms
from roko_app.web.credentials import sign
from tests.factories import T0, add_batch
from tests.helpers import csrf_from, pager_link


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
    assert "612345678" in html and "c2" in html and "Numéro invalide" in html
    # why, in French (the recipient "999"), not the service's English detail
    assert '<span class="muted">un numéro mobile de Guinée a 9 chiffres</span>' in html
    assert 'title="Détail technique' not in html and "Phone number has" not in html
    assert "/cancel" not in html, "a viewer gets no cancel button"
    assert client.post(f"/console/campaigns/{batch_id}/cancel",
                       data={"csrf_token": csrf_from(html)}).status_code == 403


def test_each_refusal_is_explained_in_french_and_older_ones_as_logged(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        batch = add_batch(T0)
        rows = [(0, "TEXT_TOO_LONG", "171 units in UCS-2; one SMS holds 70",
                 {"units": 171, "encoding": "UCS-2", "limit": 70}),
                (1, "INVALID_NUMBER", "missing mobileNumber", {"problem": "missing"}),
                (2, "INVALID_NUMBER", "Phone number 712345678 does not start with 6", None),  # stored before params
                (3, "INVALID_NUMBER", "Phone number has 3 digits", {"problem": "from a later release"}),
                (4, "OPTED_OUT", None, None)]
        db.session.add_all(CampaignRejection(batch_id=batch.id, position=position, reason=reason, detail=detail,
                                             params=params) for position, reason, detail, params in rows)
        db.session.commit()
        batch_id = batch.id
    html = login("viewer").get(f"/console/campaigns/{batch_id}").get_data(as_text=True)
    cells = re.findall(r'<td data-label="Motif">(.*?)</td>', html)
    assert len(cells) == 5
    assert '<span class="muted">171 caractères en UCS-2, 70 au plus</span>' in cells[0]
    assert '<span class="muted">aucun numéro donné</span>' in cells[1]
    # no parameters, or ones this release does not know: the English detail, as logged and marked so
    english = '<q class="muted" lang="en" translate="no" title="Détail technique, tel que journalisé">{}</q>'
    assert english.format("Phone number 712345678 does not start with 6") in cells[2]
    assert english.format("Phone number has 3 digits") in cells[3]
    assert "muted" not in cells[4]


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


def test_a_batch_with_nothing_queued_offers_nothing_to_cancel(console_app: Any, login: Any) -> None:
    batch_id = push_batch(console_app)
    client = login("operator")
    html = client.get(f"/console/campaigns/{batch_id}").get_data(as_text=True)
    assert client.post(f"/console/campaigns/{batch_id}/cancel", data={"csrf_token": csrf_from(html)}).status_code == 302
    nothing = "Plus aucun message de ce lot n&#39;est en file : il n&#39;y a rien à annuler."
    for ask in (lambda: client.get(f"/console/campaigns/{batch_id}/cancel"),  # the confirmation page
                lambda: client.post(f"/console/campaigns/{batch_id}/cancel", data={"csrf_token": csrf_from(html)})):
        response = ask()
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/console/campaigns/{batch_id}")
        assert nothing in client.get(f"/console/campaigns/{batch_id}").get_data(as_text=True)
    with console_app.app_context():
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.cancel"))
        assert event.details == {"cancelled": 2}, "only the cancel that cancelled something is audited"


def test_anonymous_is_sent_to_login_and_unknown_batch_is_404(console_app: Any, login: Any) -> None:
    assert console_app.test_client().get("/console/campaigns").status_code == 302
    assert login("viewer").get("/console/campaigns/999999").status_code == 404


# --- the list's pages ----------------------------------------------------------------------

def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/console/campaigns/\d+">([^<]+)</a>', html)


def test_the_campaign_list_is_paged_newest_first(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        for i in range(53):  # a full first page of 50, then 3; two received at the same instant
            add_batch(T0 + timedelta(minutes=min(i, 51)), f"batch-{i:02d}")
        db.session.commit()
    client = login("viewer")
    first = client.get("/console/campaigns").get_data(as_text=True)
    assert listed(first) == [f"batch-{i:02d}" for i in (52, 51, *range(50, 2, -1))]
    assert pager_link(first, "prev") is None
    older = pager_link(first, "next")
    assert older is not None and older.startswith("/console/campaigns?before=")
    last = client.get(older).get_data(as_text=True)
    assert listed(last) == ["batch-02", "batch-01", "batch-00"]
    assert pager_link(last, "next") is None and 'href="/console/campaigns">«' in last
    newer = pager_link(last, "prev")
    assert newer is not None and listed(client.get(newer).get_data(as_text=True)) == listed(first)


def test_a_page_of_exactly_the_last_batches_has_no_older_link(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        for i in range(4):
            add_batch(T0 + timedelta(minutes=i), f"batch-{i:02d}")
        db.session.commit()
    client = login("viewer")
    first = client.get("/console/campaigns?limit=2").get_data(as_text=True)
    assert listed(first) == ["batch-03", "batch-02"]
    last = client.get(pager_link(first, "next")).get_data(as_text=True)
    assert listed(last) == ["batch-01", "batch-00"] and pager_link(last, "next") is None


def test_no_batch_yet(console_app: Any, login: Any) -> None:
    html = login("viewer").get("/console/campaigns").get_data(as_text=True)
    assert listed(html) == [] and '<nav class="pager"' not in html
