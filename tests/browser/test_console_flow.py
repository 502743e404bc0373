"""An operator on a 360 px phone: log in, watch the counter while typing (GSM-7, then a ç
flipping it to UCS-2 with the ç highlighted, then the GSM-safe replacement bringing it
back), send to the simulator through the outbox and the worker, see it sent.
Screenshots of the compose page and the dashboard go to test-artifacts/."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, OutboundSms, OutboundStatus
from roko_app.worker import Worker
from tests.helpers import LAPTOP, SIM_TOKEN, log_in_browser, screenshot


def counter(page: Any) -> dict[str, Any]:
    box = page.locator("#text-counter")
    return {"encoding": box.get_attribute("data-encoding"), "units": int(box.get_attribute("data-units")),
            "limit": int(box.get_attribute("data-limit")), "fits": box.get_attribute("data-fits") == "true",
            "offending": json.loads(box.get_attribute("data-offending"))}


def test_compose_send_and_see_it_sent(page: Any, console_server: str, make_app: Any, simulator: Any) -> None:
    worker_app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_CONNECT_TIMEOUT=0.5,
                          TOPAZ_READ_TIMEOUT=0.5, TOPAZ_RATE_PER_PORT=0)
    log_in_browser(page, console_server)
    page.click("label.nav-toggle-label")  # the phone menu
    page.click("nav a[href='/console/compose']")
    page.wait_for_url(console_server + "/console/compose")
    send = page.locator("#send-button")
    assert send.is_disabled()  # nothing typed yet

    textarea = page.locator("#text")
    textarea.press_sequentially("Bonjour")
    assert counter(page) == {"encoding": "GSM-7", "units": 7, "limit": 160, "fits": True, "offending": []}
    assert page.locator("#text-counter [data-role=summary]").inner_text().startswith("GSM-7")
    assert page.locator("#text-counter [data-role=replace]").is_hidden()

    textarea.press_sequentially(", votre reçu est prêt")
    assert counter(page) == {"encoding": "UCS-2", "units": 28, "limit": 70, "fits": True, "offending": ["ç", "ê"]}
    marks = page.locator("#text-counter .preview mark")
    assert marks.all_inner_texts() == ["ç", "ê"]
    assert page.locator("#text-counter").get_attribute("class").split() == ["sms-counter", "ucs2"]
    assert send.is_enabled()
    no_overflow = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert no_overflow, "the compose page scrolls sideways on a 360 px phone"
    screenshot(page, "compose-ucs2-360px.png")

    page.locator("#text-counter [data-role=replace]").click()
    assert textarea.input_value() == "Bonjour, votre recu est pret"
    assert counter(page) == {"encoding": "GSM-7", "units": 28, "limit": 160, "fits": True, "offending": []}
    assert page.locator("#text-counter .preview").is_hidden()
    assert "ç → c" in page.locator("#text-counter [data-role=replaced]").inner_text()

    textarea.fill("x" * 161)
    assert counter(page)["fits"] is False and send.is_disabled()
    textarea.fill("Bonjour, votre recu est pret")
    page.fill("#numbers", "+224 612 34 56 78")
    screenshot(page, "compose-360px.png")
    send.click()
    page.wait_for_url(console_server + "/console/compose")
    assert page.locator(".flash").count() == 1

    with worker_app.app_context():
        (row,) = db.session.scalars(select(OutboundSms))
        assert (row.to_msisdn, row.text, row.status, row.caller) == (
            "612345678", "Bonjour, votre recu est pret", OutboundStatus.QUEUED, "operator@roko.test")
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.send")).one().details["count"] == 1
        db.session.rollback()
        stats = Worker.from_app(worker_app).run(once=True)
        assert stats.sent == 1
        db.session.expire_all()
        assert db.session.get(OutboundSms, row.id).status == OutboundStatus.SENT
    (sent,) = simulator.sent()
    assert (sent["text"], sent["encoding"], sent["client_ref"]) == ("Bonjour, votre recu est pret", "GSM-7",
                                                                   f"roko-out-{row.id}")
    assert sent["to"].endswith("612345678")

    # The outbound log shows it sent.
    page.goto(console_server + "/console/messages?dir=out")
    logged = page.locator(f"#out-{row.id}")
    assert "Bonjour, votre recu est pret" in logged.inner_text()
    assert logged.locator(".badge.SENT").count() == 1

    page.set_viewport_size(LAPTOP)
    page.goto(console_server + "/console/")
    screenshot(page, "dashboard.png")
