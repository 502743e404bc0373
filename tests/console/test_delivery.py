"""The console shows delivery (livré / non livré / inconnu) in the outbound list and on a
message's page, with the gateway's reports; uncertain messages can be re-queued."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.models import OutboundStatus
from roko_app.reads.campaigns import batch_summary
from roko_app.reads.messages import DELIVERY, delivery_of
from tests.factories import T0, add_batch, add_outbound
from tests.helpers import csrf_from, english, post_reports


@pytest.mark.parametrize(("status", "delivery"), [
    ("QUEUED", None), ("SENDING", None), ("FAILED", None), ("CANCELLED", None), (None, None),
    ("SENT", "pending"), ("DELIVERED", "delivered"), ("UNDELIVERED", "undelivered"), ("EXPIRED", "undelivered"),
    ("UNREPORTED", "unknown"), ("UNCERTAIN", "unknown"),
])
def test_what_each_status_says_about_delivery(status: str | None, delivery: str | None) -> None:
    assert delivery_of(status) == delivery


def test_every_status_is_placed() -> None:
    placed = set(DELIVERY) | {"QUEUED", "SENDING", "FAILED", "CANCELLED"}
    assert placed == {status.value for status in OutboundStatus}


@pytest.fixture
def delivery_log(console_app: Any) -> dict[str, int]:
    ids = {}
    with console_app.app_context():
        for minute, status in enumerate(["SENT", "DELIVERED", "UNDELIVERED", "UNREPORTED", "UNCERTAIN", "QUEUED"]):
            message = add_outbound("612345678", f"Message {status}", T0 + timedelta(minutes=minute), status=status)
            ids[status] = message.id
        db.session.commit()
    return ids


def badge_of(html: str, message_id: int) -> str | None:
    row = re.search(rf'<tr id="out-{message_id}">(.*?)</tr>', html, re.S)
    assert row, f"no row for {message_id}"
    found = re.search(r'<td data-label="Livraison" class="delivery">(?:<span class="badge (\w+)">([^<]+)</span>)?</td>',
                      row.group(1))
    assert found, row.group(1)
    return found.group(2)


def test_the_outbound_list_shows_delivery_in_french(login: Any, delivery_log: dict[str, int]) -> None:
    html = login("viewer").get("/console/messages?dir=out").get_data(as_text=True)
    assert "<th>Livraison</th>" in html
    shown = {status: badge_of(html, message_id) for status, message_id in delivery_log.items()}
    assert shown == {"SENT": "accusé attendu", "DELIVERED": "livré", "UNDELIVERED": "non livré",
                     "UNREPORTED": "inconnu", "UNCERTAIN": "inconnu", "QUEUED": None}
    assert ">Inconnu, à vérifier<" in html and ">Sans accusé de réception<" in html


def test_the_list_filters_by_the_new_statuses(login: Any, delivery_log: dict[str, int]) -> None:
    html = login("viewer").get("/console/messages?dir=out&status=UNCERTAIN").get_data(as_text=True)
    assert re.findall(r'<tr id="out-(\d+)"', html) == [str(delivery_log["UNCERTAIN"])]
    assert '<option value="UNDELIVERED">Non livré</option>' in html


def test_a_message_page_shows_its_delivery_and_the_gateways_reports(console_app: Any, login: Any,
                                                                    delivery_log: dict[str, int]) -> None:
    message_id = delivery_log["SENT"]
    report = {"client_ref": f"roko-out-{message_id}", "status": "failed", "at": "2026-06-10T12:03:00Z",
              "reason": "absent subscriber"}
    assert post_reports(console_app.test_client(), {"reports": [report, {**report, "status": "delivered"}]}
                        ).get_json()["applied"] == 1
    client = login("viewer")
    html = client.get(f"/console/messages/out/{message_id}").get_data(as_text=True)
    assert f"<h1>Message {message_id}</h1>" in html
    assert re.search(r'<dd id="delivery"><span class="badge undelivered">non livré</span>', html)
    assert "absent subscriber" in html and f"roko-out-{message_id}" in html
    reports = re.search(r'<table class="rows" id="reports">(.*?)</table>', html, re.S).group(1)  # type: ignore[union-attr]
    assert reports.count("<tr>") == 3  # the heading and two reports
    assert ">échec</td>" in reports and ">livré</td>" in reports  # the gateway's words, in French
    assert "non (déjà définitif, ou autre SMS)" in reports
    listing = client.get("/console/messages?dir=out").get_data(as_text=True)
    assert f'href="/console/messages/out/{message_id}?next=' in listing  # the link carries the list back
    english(client)
    assert "not delivered" in client.get(f"/console/messages/out/{message_id}").get_data(as_text=True)


def test_a_message_page_without_reports_and_a_missing_message(login: Any, delivery_log: dict[str, int]) -> None:
    client = login("viewer")
    html = client.get(f"/console/messages/out/{delivery_log['UNREPORTED']}").get_data(as_text=True)
    assert "Pas encore d'accusé de réception." in html and "on ne sait pas si le téléphone l'a reçu" in html
    assert client.get("/console/messages/out/999999").status_code == 404


def test_an_operator_requeues_an_uncertain_message_from_its_page(console_app: Any, login: Any,
                                                                 delivery_log: dict[str, int]) -> None:
    message_id = delivery_log["UNCERTAIN"]
    assert "Re-queue" not in login("viewer").get(f"/console/messages/out/{message_id}").get_data(as_text=True)
    client = login("operator")
    html = client.get(f"/console/messages/out/{message_id}").get_data(as_text=True)
    assert "vérifiez auprès de la passerelle" in html
    response = client.post(f"/console/messages/{message_id}/requeue",
                           data={"csrf_token": csrf_from(html), "next": f"/console/messages/out/{message_id}"})
    assert response.status_code == 302
    html = client.get(f"/console/messages/out/{message_id}").get_data(as_text=True)
    assert 'class="badge QUEUED"' in html


def test_a_campaigns_progress_counts_messages_whose_delivery_is_known(console_app: Any) -> None:
    with console_app.app_context():
        batch = add_batch(T0, accepted=6)
        for status in ["QUEUED", "SENT", "DELIVERED", "UNDELIVERED", "UNREPORTED", "UNCERTAIN"]:
            add_outbound("612345678", "Promo", T0, status=status).campaign_batch_id = batch.id
        db.session.commit()
        summary = batch_summary(batch.id)
        assert (summary.done, summary.progress) == (5, 83)
