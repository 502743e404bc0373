"""The public draw page and the entrant's self-check in headless Chromium at phone size
(360 x 740): readable without zooming or scrolling sideways, no script or CSP error, and
the form answers an entrant about their own number."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from roko_app import create_app
from roko_app.extensions import db
from roko_app.models.lucky_draw import LuckyDraw
from tests.factories import add_draw
from tests.helpers import base_config, checked_page, screenshot

PHONE_360 = {"width": 360, "height": 740}


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A 360 x 740 page, French, that fails the test on any script or console error."""
    with checked_page(browser, viewport=PHONE_360, is_mobile=True, has_touch=True) as tab:
        yield tab


@pytest.fixture(scope="module")
def drawn(reading_server: str, _migrated: str) -> tuple[str, str, dict[str, list[str]], list[str]]:
    """A run draw on the reading server's database: its URL, draw_id, codes and the masked winners."""
    app = create_app(base_config(_migrated, LOG_LEVEL="WARNING"))
    draw_id, codes = add_draw(app, "RUN")
    with app.app_context():
        draw = db.session.query(LuckyDraw).filter_by(draw_id=draw_id).one()
        masked = [p.msisdn[:2] + "•••••" + p.msisdn[-2:] for p in draw.picks]
        db.session.remove()  # hand the connection back first: dispose() closes only pooled ones
        db.engine.dispose()
    return reading_server, draw_id, codes, masked


def _fits_the_screen(page: Any) -> None:
    page.wait_for_load_state("load")  # measured with the style sheet applied
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE_360["width"], f"the page scrolls sideways: {width} px"
    size = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 14, f"body text of {size} px is too small to read on a phone"


def test_the_public_page_reads_on_a_phone(phone: Any, drawn: Any) -> None:
    base, draw_id, _codes, masked = drawn
    response = phone.goto(f"{base}/draws/{draw_id}")
    assert response.status == 200
    assert phone.locator("h1").inner_text() == "Tirage de juin"
    for section in ("#commitment", "#entries", "#result", "#seed", "#verify", "#check"):
        assert phone.locator(section).is_visible(), section
    result = phone.locator("#result").inner_text()
    assert all(number in result for number in masked)
    assert "python3 verify_draw.py ." in phone.locator("#verify").inner_text()
    _fits_the_screen(phone)
    screenshot(phone, "public-draw-360.png")


def test_an_entrant_checks_their_participation_on_a_phone(phone: Any, drawn: Any) -> None:
    base, draw_id, codes, _masked = drawn
    msisdn, own = next(iter(codes.items()))
    phone.goto(f"{base}/draws/{draw_id}")
    phone.fill("#phone", msisdn)
    phone.fill("#code", own[1])
    with phone.expect_navigation(wait_until="load"):  # the answer page, its style sheet applied
        phone.click("#check button[type=submit]")
    answer = phone.locator("#check-result")
    assert "Votre numéro a 2 participations dans la liste de ce tirage" in answer.inner_text()
    _fits_the_screen(phone)
    screenshot(phone, "public-draw-check-360.png")
    phone.fill("#phone", msisdn)
    phone.fill("#code", "U99999999")
    with phone.expect_navigation(wait_until="load"):
        phone.click("#check button[type=submit]")
    assert "Nous ne trouvons aucune participation valide" in phone.locator("#check-result").inner_text()
    assert phone.locator("#phone").input_value() == "", "the number is not kept in the page"
