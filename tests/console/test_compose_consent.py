"""Compose and the farmer page respect consent (issue 13): numbers that texted STOP are
named before anything is sent, the operator confirms sending to the others, and the
farmer page says the number opted out, since when, and how it comes back (START)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, OutboundSms
from tests.factories import add_entry, add_participant
from tests.helpers import csrf_from, text_in

URL = "/console/compose"
STOPPED, OTHER, THIRD = "612345678", "622334455", "633445566"
STOPPED_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def recipients(app: Any) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboundSms.to_msisdn).order_by(OutboundSms.id)))


def opt_out(app: Any, *numbers: str) -> None:
    with app.app_context():
        for number in numbers:
            add_participant(number, opted_out_at=STOPPED_AT)
        db.session.commit()


def post(client: Any, numbers: str, **extra: str) -> Any:
    token = csrf_from(client.get(URL).get_data(as_text=True))
    return client.post(URL, data={"csrf_token": token, "numbers": numbers, "text": "Bonjour", **extra})


def test_compose_names_the_opted_out_numbers_and_sends_nothing_yet(console_app: Any, login: Any) -> None:
    opt_out(console_app, STOPPED)
    response = post(login("operator"), f"{STOPPED}, {OTHER}\n{THIRD}")
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Ce numéro a demandé à ne plus recevoir de messages" in html and f"<code>{STOPPED}</code>" in html
    assert "Envoyer seulement aux 2 autres numéros" in html
    assert f"<code>{OTHER}</code>" not in html
    assert recipients(console_app) == []


def test_confirming_sends_to_the_others_only_and_the_audit_says_so(console_app: Any, login: Any) -> None:
    opt_out(console_app, STOPPED)
    client = login("operator")
    response = post(client, f"{STOPPED}, {OTHER}", skip_opted_out="1")
    assert response.status_code == 302
    assert recipients(console_app) == [OTHER]
    with console_app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.send")).one()
        assert event.details["count"] == 1 and event.details["opted_out_skipped"] == 1


def test_when_every_number_opted_out_there_is_nobody_to_send_to(console_app: Any, login: Any) -> None:
    opt_out(console_app, STOPPED, OTHER)
    response = post(login("operator"), f"{STOPPED};{OTHER}", skip_opted_out="1")
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Ces 2 numéros ont demandé" in html and "personne à qui envoyer" in html
    assert 'id="send-to-others"' not in html
    assert recipients(console_app) == []


def test_without_opted_out_numbers_compose_sends_at_once(console_app: Any, login: Any) -> None:
    opt_out(console_app, THIRD)
    assert post(login("operator"), f"{STOPPED}, {OTHER}").status_code == 302
    assert recipients(console_app) == [STOPPED, OTHER]


def test_after_start_compose_sends_again(console_app: Any, login: Any) -> None:
    client = login("operator")
    text_in(console_app, "STOP", sender=STOPPED)
    assert post(client, STOPPED).status_code == 409
    text_in(console_app, "START", sender=STOPPED)
    assert post(client, STOPPED).status_code == 302
    assert recipients(console_app)[-1] == STOPPED


def test_the_farmer_page_shows_the_opt_out_and_the_opt_in_on_the_timeline(console_app: Any, login: Any) -> None:
    opt_out(console_app, STOPPED)
    client = login("viewer")
    html = client.get(f"/console/farmers/{STOPPED}").get_data(as_text=True)
    assert 'id="opt-out-notice"' in html and "Ce numéro a envoyé STOP le 02/03/2026" in html
    assert "jusqu'à ce qu'il envoie START" in html
    with console_app.app_context():
        add_participant(STOPPED, opted_out_at=None)
        add_entry(STOPPED, "OPT_IN", datetime(2026, 3, 3, 8, tzinfo=UTC), text="START")
        db.session.commit()
    html = client.get(f"/console/farmers/{STOPPED}").get_data(as_text=True)
    assert 'id="opt-out-notice"' not in html
    assert "Réabonnement (retour après un STOP)" in html
