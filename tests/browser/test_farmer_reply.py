"""Reply from the farmer's page in a real browser (issue 13, part 2): on a phone, the
counter under the box follows typing (GSM-7, then UCS-2 with a ç, then too long with the
send button off), and the message sent is in the thread after the redirect."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import OutboundSms
from tests.factories import T0, add_entry
from tests.helpers import log_in_browser

FARMER = "612345678"


def counter(page: Any) -> tuple[str | None, int, bool]:
    box = page.locator("#send #text-counter")
    return box.get_attribute("data-encoding"), int(box.get_attribute("data-units")), \
        box.get_attribute("data-fits") == "true"


def test_typing_moves_the_counter_and_the_message_lands_in_the_thread(page: Any, console_server: str,
                                                                       make_app: Any) -> None:
    app = make_app()
    with app.app_context():
        add_entry(FARMER, "VALID_FIRST", T0, code="U10000001", chances=1)
        db.session.commit()
    log_in_browser(page, console_server)
    page.goto(f"{console_server}/console/farmers/{FARMER}")
    send = page.locator("#send-button")
    textarea = page.locator("#send #text")
    assert counter(page) == ("GSM-7", 0, True)

    textarea.press_sequentially("Bonjour")
    assert counter(page) == ("GSM-7", 7, True)
    assert "7" in page.locator("#text-counter [data-role=summary]").inner_text()
    textarea.press_sequentially(", votre reçu")
    assert counter(page) == ("UCS-2", 19, True)
    assert send.is_enabled()
    textarea.fill("x" * 161)
    assert counter(page) == ("GSM-7", 161, False)
    assert send.is_disabled(), "a text longer than one SMS cannot be sent"

    textarea.fill("Bonjour, votre recu est pret")
    assert counter(page) == ("GSM-7", 28, True)
    send.click()
    page.wait_for_url(re.compile(rf"/console/farmers/{FARMER}#out-\d+$"))
    with app.app_context():
        (row,) = db.session.scalars(select(OutboundSms))
        assert (row.to_msisdn, row.text, row.caller) == (FARMER, "Bonjour, votre recu est pret", "operator@roko.test")
    sent = page.locator(f"ol.conversation li#out-{row.id}")
    assert sent.is_visible() and "Bonjour, votre recu est pret" in sent.inner_text()
    assert page.locator(".flash").count() == 1
    assert textarea.input_value() == "", "the box is empty again"
