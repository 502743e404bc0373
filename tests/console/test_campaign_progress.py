"""A campaign's progress (issue 13): sent, failed, cancelled and still queued; a fully
cancelled batch is not "100 %"; the batch page shows its texts and how long its queued
messages still need at the port's sending rate."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import insert

from roko_app.extensions import db
from roko_app.models import OutboundSms, Priority
from roko_app.reads.campaigns import batch_eta, batch_summary
from tests.factories import add_batch, make_user
from tests.helpers import log_in

NOW = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)


def add_messages(batch_id: int | None, count: int, *, status: str = "QUEUED", port: int = 17,
                 priority: int = Priority.BULK, due: datetime = NOW, text: str = "Promo ROKO") -> None:
    rows = [{"to_msisdn": f"62{i:07d}", "text": text, "encoding": "GSM-7", "units": len(text), "status": status,
             "priority": priority, "port": port, "caller": "test", "attempts": 0, "next_attempt_at": due,
             "created_at": NOW, "updated_at": NOW, "campaign_batch_id": batch_id} for i in range(count)]
    if rows:
        db.session.execute(insert(OutboundSms), rows)


def test_progress_counts_sent_failed_cancelled_and_queued(app: Any) -> None:
    with app.app_context():
        batch = add_batch(NOW, accepted=10)
        for status, count in [("SENT", 2), ("DELIVERED", 2), ("UNDELIVERED", 1), ("FAILED", 1), ("CANCELLED", 2),
                              ("QUEUED", 1), ("SENDING", 1)]:
            add_messages(batch.id, count, status=status)
        db.session.commit()
        summary = batch_summary(batch.id)
        assert summary.groups == {"sent": 5, "failed": 1, "cancelled": 2, "queued": 2}
        assert summary.progress == 75, "6 of the 8 messages not cancelled are past the queue"


@pytest.mark.parametrize(("cancelled", "progress"), [(4, None), (3, 0)])
def test_a_fully_cancelled_batch_has_no_progress(app: Any, cancelled: int, progress: int | None) -> None:
    with app.app_context():
        batch = add_batch(NOW, accepted=4)
        add_messages(batch.id, cancelled, status="CANCELLED")
        add_messages(batch.id, 4 - cancelled)
        db.session.commit()
        assert batch_summary(batch.id).progress == progress


def test_the_pages_say_everything_was_cancelled(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        batch = add_batch(NOW, "tout-annule", accepted=3)
        add_messages(batch.id, 3, status="CANCELLED")
        db.session.commit()
        batch_id = batch.id
    client = login("viewer")
    listing = unescape(client.get("/console/campaigns").get_data(as_text=True))
    assert "tout annulé" in listing and "100\u00a0%" not in listing
    assert "Encore en file" in listing
    page = unescape(client.get(f"/console/campaigns/{batch_id}").get_data(as_text=True))
    assert "tout a été annulé : rien n'est parti" in page
    assert 'id="batch-eta"' not in page, "nothing queued: no ETA"


def test_the_batch_page_shows_its_texts(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        batch = add_batch(NOW, "promo", accepted=5)
        add_messages(batch.id, 3, text="Promo ROKO: -10% sur le Nano")
        add_messages(batch.id, 2, text="Bonjour Mamadou, promo ROKO")
        db.session.commit()
        batch_id = batch.id
    page = unescape(login("viewer").get(f"/console/campaigns/{batch_id}").get_data(as_text=True))
    assert "Textes des messages" in page
    first, second = page.index("Promo ROKO: -10% sur le Nano"), page.index("Bonjour Mamadou, promo ROKO")
    assert first < second and "3 messages" in page and "2 messages" in page


def test_the_eta_counts_what_its_port_sends_first_at_the_port_rate(make_app: Any) -> None:
    app = make_app(TOPAZ_RATE_PER_PORT=0.1)
    with app.app_context():
        older = add_batch(NOW - timedelta(hours=1), "older")
        batch = add_batch(NOW, "promo", accepted=900)
        add_messages(older.id, 2, due=NOW - timedelta(minutes=5))  # same priority, due earlier: first
        add_messages(batch.id, 900, due=NOW)
        add_messages(None, 100, priority=Priority.API, due=NOW + timedelta(hours=1))  # higher priority: first
        add_messages(None, 30, due=NOW + timedelta(minutes=1))  # due after the batch's last: later
        add_messages(None, 50, port=18)  # another port
        add_messages(None, 10, status="SENT")  # gone
        db.session.commit()
        eta = batch_eta(batch.id, 0.1, NOW)
        assert eta is not None and (eta.messages, eta.duration) == (1002, timedelta(seconds=10020))
        assert batch_eta(batch.id, 0, NOW) is None, "no rate, no ETA"
        assert batch_eta(older.id + 1000, 0.1, NOW) is None
        batch_id = batch.id
    make_user(app, "viewer@roko.test", "viewer")
    client = log_in(app.test_client(), "viewer@roko.test")
    page = unescape(client.get(f"/console/campaigns/{batch_id}").get_data(as_text=True))
    assert "environ 2 h 47 min à 0,1 SMS/s" in page
    assert re.search(r"fini vers \d\d/\d\d/\d{4} \d\d:\d\d", page)  # the console's one date format
    assert "1\u202f002 messages à envoyer sur son port" in page, "French thousands separator"


def test_a_batch_scheduled_later_starts_at_its_time(app: Any) -> None:
    with app.app_context():
        batch = add_batch(NOW, accepted=60)
        add_messages(batch.id, 60, due=NOW + timedelta(days=1))
        db.session.commit()
        eta = batch_eta(batch.id, 1.0, NOW)
        assert (eta.start, eta.finish) == (NOW + timedelta(days=1), NOW + timedelta(days=1, minutes=1))


def test_campaigns_show_how_many_were_delivered_and_the_rate(console_app: Any, login: Any) -> None:
    """Of 4 messages handed to the gateway, 3 reported delivered: 75 %; none handed over yet: no rate."""
    with console_app.app_context():
        batch = add_batch(NOW, "livraison", accepted=6)
        for status, count in [("DELIVERED", 3), ("UNDELIVERED", 1), ("QUEUED", 2)]:
            add_messages(batch.id, count, status=status)
        waiting = add_batch(NOW, "en-attente", accepted=1)
        add_messages(waiting.id, 1)
        db.session.commit()
        assert (batch_summary(batch.id).delivered, batch_summary(batch.id).delivery_rate) == (3, 75)
        assert batch_summary(waiting.id).delivery_rate is None
        batch_id = batch.id
    client = login("viewer")
    page = unescape(client.get(f"/console/campaigns/{batch_id}").get_data(as_text=True))
    assert re.search(r'id="batch-delivered"><b>3</b>Livrés au téléphone \(75\xa0%\)', page)
    listing = unescape(client.get("/console/campaigns").get_data(as_text=True))
    assert "Livrés au téléphone" in listing and "3 (75\u00a0%)" in listing
