"""A farmer's page: the conversation, entries, opt-out and block status; unblocking."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import AuditEvent, Participant
from tests.factories import T0, add_entry, add_outbound, add_participant
from tests.helpers import csrf_from

FARMER = "612345678"


@pytest.fixture
def talk(console_app: Any) -> dict[str, int]:
    """SMS in and replies out, in a known order; another farmer's SMS as noise."""
    with console_app.app_context():
        first = add_entry(FARMER, "VALID_FIRST", T0, code="U00000001", chances=1, text="ROKO U00000001")
        reply1 = add_outbound(FARMER, "Merci ! Code U00000001 valide.", T0 + timedelta(seconds=1), reply_to=first.sms_id)
        second = add_entry(FARMER, "INVALID_CODE", T0 + timedelta(minutes=5), code="U99999999", text="ROKO U99999999")
        reply2 = add_outbound(FARMER, "Code inconnu.", T0 + timedelta(minutes=5, seconds=1), status="FAILED",
                              last_error="rejected by the gateway: blacklisted", reply_to=second.sms_id)
        campaign = add_outbound(FARMER, "Nouvelle promo ROKO", T0 + timedelta(hours=1), status="QUEUED")
        add_entry("622334455", "VALID_FIRST", T0, code="U00000002", text="someone else")
        db.session.commit()
        return {"first": first.id, "second": second.id, "sms1": first.sms_id, "sms2": second.sms_id,
                "reply1": reply1.id, "reply2": reply2.id, "campaign": campaign.id}


def conversation(html: str) -> list[str]:
    return re.findall(r'<li class="(?:in|out)" id="((?:in|out)-\d+)"', html)


def test_conversation_merges_sms_in_and_out_by_time(login: Any, talk: dict[str, int]) -> None:
    html = login("viewer").get(f"/console/farmers/{FARMER}").get_data(as_text=True)
    assert conversation(html) == [f"in-{talk['sms1']}", f"out-{talk['reply1']}", f"in-{talk['sms2']}",
                                  f"out-{talk['reply2']}", f"out-{talk['campaign']}"]
    assert "someone else" not in html
    assert 'Refusé par la passerelle : <q translate="no">blacklisted</q>' in html  # why the failed reply failed
    assert f'id="entry-{talk["first"]}"' in html and f'id="entry-{talk["second"]}"' in html
    assert f'href="#entry-{talk["second"]}"' in html  # the SMS links to its entry
    assert '<span class="badge QUEUED">En attente</span>' in html and '<span class="badge FAILED">Échec</span>' in html


@pytest.mark.parametrize("written", ["+224612345678", "00224 612 34 56 78", "224-612-345-678"])
def test_any_way_of_writing_the_number_leads_to_the_farmer(login: Any, talk: dict[str, int], written: str) -> None:
    response = login("viewer").get(f"/console/farmers/{written}")
    assert response.status_code == 302 and response.headers["Location"] == f"/console/farmers/{FARMER}"


@pytest.mark.parametrize("number", ["699999999", "hello", "+33699999999"])
def test_unknown_number_is_404(login: Any, talk: dict[str, int], number: str) -> None:
    assert login("viewer").get(f"/console/farmers/{number}").status_code == 404


def test_a_foreign_sender_has_a_page_under_the_number_as_received(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        add_entry("33612345678", "INVALID_CODE", T0, code="U00000009", text="ROKO U00000009 from abroad", guinea=False)
        db.session.commit()
    html = login("viewer").get("/console/farmers/33612345678").get_data(as_text=True)
    assert "ROKO U00000009 from abroad" in html and len(conversation(html)) == 1


def test_a_number_we_only_wrote_to_has_a_page(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        add_outbound("655555555", "Promo ROKO", T0, status="SENT")
        db.session.commit()
    html = login("viewer").get("/console/farmers/655555555").get_data(as_text=True)
    assert "Promo ROKO" in html


def block(app: Any, until: datetime | None, opted_out: datetime | None = None) -> None:
    with app.app_context():
        add_participant(FARMER, blocked_until=until, block_notified_at=until and until - timedelta(hours=24),
                        opted_out_at=opted_out)
        db.session.commit()


def test_status_badges(console_app: Any, login: Any, talk: dict[str, int]) -> None:
    block(console_app, datetime(2030, 1, 2, 3, 4, tzinfo=UTC), opted_out=datetime(2026, 6, 10, 9, 15, tzinfo=UTC))
    html = login("viewer").get(f"/console/farmers/{FARMER}").get_data(as_text=True)
    assert "02/01/2030 03:04" in html and "10/06/2026 09:15" in html
    assert 'class="badge BLOCKED"' in html and 'class="badge OPT_OUT"' in html


def test_an_expired_block_is_not_shown(console_app: Any, login: Any, talk: dict[str, int]) -> None:
    block(console_app, utcnow() - timedelta(minutes=1))
    html = login("operator").get(f"/console/farmers/{FARMER}").get_data(as_text=True)
    assert 'class="badge BLOCKED"' not in html and "/unblock" not in html


def test_only_operators_see_the_unblock_button(console_app: Any, login: Any, talk: dict[str, int]) -> None:
    block(console_app, utcnow() + timedelta(hours=3))
    assert "/unblock" not in login("viewer").get(f"/console/farmers/{FARMER}").get_data(as_text=True)
    for role in ("operator", "admin"):
        assert f'href="/console/farmers/{FARMER}/unblock"' in login(role).get(f"/console/farmers/{FARMER}").get_data(
            as_text=True)


def test_operator_unblocks_and_it_is_audited(console_app: Any, login: Any, talk: dict[str, int]) -> None:
    block(console_app, utcnow() + timedelta(hours=3))
    client = console_app.test_client()
    client.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    login("operator", client)
    token = csrf_from(client.get(f"/console/farmers/{FARMER}").get_data(as_text=True))
    response = client.post(f"/console/farmers/{FARMER}/unblock", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == f"/console/farmers/{FARMER}"
    with console_app.app_context():
        participant = db.session.scalars(select(Participant).where(Participant.msisdn == FARMER)).one()
        assert participant.blocked_until <= utcnow() and participant.block_notified_at is None  # ended now
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "participant.unblock"))
        assert (event.actor, event.target, event.address) == ("operator@roko.test", FARMER, "10.1.2.3")
    html = client.get(f"/console/farmers/{FARMER}").get_data(as_text=True)
    assert "flash-success" in html and 'class="badge BLOCKED"' not in html
    # again: nothing to do, nothing audited
    client.post(f"/console/farmers/{FARMER}/unblock", data={"csrf_token": token})
    with console_app.app_context():
        assert len(list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "participant.unblock")))) == 1


def test_viewer_cannot_unblock(console_app: Any, login: Any, talk: dict[str, int]) -> None:
    block(console_app, utcnow() + timedelta(hours=3))
    client = login("viewer")
    token = csrf_from(client.get(f"/console/farmers/{FARMER}").get_data(as_text=True))
    assert client.post(f"/console/farmers/{FARMER}/unblock", data={"csrf_token": token}).status_code == 403
    with console_app.app_context():
        assert db.session.scalars(select(Participant).where(Participant.msisdn == FARMER)).one().blocked_until
        assert not list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "participant.unblock")))


def test_unblock_without_csrf_is_refused(console_app: Any, login: Any, talk: dict[str, int]) -> None:
    block(console_app, utcnow() + timedelta(hours=3))
    assert login("operator").post(f"/console/farmers/{FARMER}/unblock").status_code == 400
    with console_app.app_context():
        assert db.session.scalars(select(Participant).where(Participant.msisdn == FARMER)).one().blocked_until


def test_anonymous_unblock_goes_to_login(console_app: Any, talk: dict[str, int]) -> None:
    client = console_app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(f"/console/farmers/{FARMER}/unblock", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_unblocking_an_unknown_number_is_404(login: Any, talk: dict[str, int]) -> None:
    client = login("operator")
    token = csrf_from(client.get(f"/console/farmers/{FARMER}").get_data(as_text=True))
    assert client.post("/console/farmers/699999999/unblock", data={"csrf_token": token}).status_code == 404


def test_farmer_page_speaks_french_by_default(console_app: Any, login: Any, talk: dict[str, int]) -> None:
    block(console_app, utcnow() + timedelta(hours=3))
    html = login("operator").get(f"/console/farmers/{FARMER}").get_data(as_text=True)
    assert "Débloquer" in html and "Conversation" in html and "Code invalide" in html


def test_the_thread_shows_each_replys_delivery(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        add_entry("612345678", "VALID_FIRST", datetime(2026, 6, 10, 8, 0, tzinfo=UTC), code="U00000001")
        add_outbound("612345678", "Livré", datetime(2026, 6, 10, 8, 1, tzinfo=UTC), status="DELIVERED")
        add_outbound("612345678", "Perdu", datetime(2026, 6, 10, 8, 2, tzinfo=UTC), status="UNDELIVERED")
        db.session.commit()
    page = login("viewer").get("/console/farmers/612345678").get_data(as_text=True)
    assert 'class="badge delivered delivery">livré<' in page
    assert 'class="badge undelivered delivery">non livré<' in page
