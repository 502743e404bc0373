"""Every console page fits a phone (issue 13, part 4): walked as admin, operator and viewer
at 390 x 844 and at 1280 x 800, with rows in every list, no page is wider than the screen,
no box scrolls sideways, and no button, link or field of the page lies outside it. The
public pages (a draw's page and its self-check answer) and the error pages too."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from werkzeug.serving import make_server

from roko_app import create_app
from roko_app.extensions import db
from roko_app.models import AuditEvent, CampaignBatch, OptimoveCallback, OutboundSms, Priority, User
from tests.factories import T0, add_batch, add_draw, add_entry, add_outbound, add_participant, add_sms, issue_key, make_user
from tests.helpers import PASSWORD, base_config, checked_page, screenshot, text_in, wipe_database

Site = tuple[str, dict[str, list[str]], dict[str, Any]]  # its URL, the pages of each role, the rows' ids
SIZES = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1280, "height": 800}}
FARMER = "612345678"
BLOCKED = "622334455"
LONG_TEXT = ("Bonjour, votre participation ROKO est bien enregistrée. Gardez votre sac et votre reçu : "
             "le tirage a lieu le 30 juin à Conakry.")

# What is wrong with the page, measured by the browser: the document wider than the
# screen, a box of <main> that scrolls sideways, a visible control outside the screen.
MEASURE = """() => {
  const width = document.documentElement.clientWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
    + (el.textContent.trim() ? ' "' + el.textContent.trim().slice(0, 30) + '"' : '');
  const problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) problems.push(`the page is ${page} px wide`);
  for (const el of document.querySelectorAll('main *')) {
    const style = getComputedStyle(el);
    if (['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${name(el)} scrolls sideways: ${el.scrollWidth} px in ${el.clientWidth} px`);
    }
  }
  for (const el of document.querySelectorAll('main a, main button, main input, main select, main textarea')) {
    const box = el.getBoundingClientRect();
    if (el.type === 'hidden' || box.width === 0 || box.height === 0) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;
    if (box.left < -0.5 || box.right > width + 0.5) {
      problems.push(`${name(el)} is outside the screen (${Math.round(box.left)} to ${Math.round(box.right)} px)`);
    }
  }
  return problems;
}"""


def seed(app: Any) -> dict[str, Any]:
    """Rows for every list and detail page; the ids the pages' addresses need."""
    for role in ("admin", "operator", "viewer"):
        make_user(app, f"{role}@roko.test", role)
    make_user(app, "a.very.long.address.for.a.phone.screen@roko-campaign.example.test", "operator")
    issue_key(app, "ops-dashboard-with-a-long-name")
    draw_id, _ = add_draw(app, "RUN")
    text_in(app, "ROKO U10000001", sender=FARMER, gateway_sms_id=9001, classify=False)
    text_in(app, "ROKO U10000009 avec un autre texte", sender=FARMER, gateway_sms_id=9001, classify=False)
    text_in(app, "bonjour", sender=FARMER)
    with app.app_context():
        add_entry(FARMER, "INVALID_CODE", T0, code="U99999999", text="ROKO U99999999 " + LONG_TEXT)
        add_participant(BLOCKED, blocked_until=datetime.now(UTC) + timedelta(days=1))
        add_participant("633000000", opted_out_at=T0)
        add_outbound(FARMER, LONG_TEXT, T0)
        failed = add_outbound(FARMER, LONG_TEXT, T0, status="FAILED", attempts=5,
                              last_error="rejected by the gateway: simulated rejection " + "x" * 60)
        parked = add_sms(FARMER, LONG_TEXT, T0)
        parked.parked_at, parked.classify_attempts, parked.classify_error = T0, 5, "ValueError: " + "y" * 120
        batch = add_batch(T0, "campagne-juin-2026-avec-un-nom-long", accepted=3)
        db.session.execute(insert(OutboundSms), [
            {"to_msisdn": f"62{i:07d}", "text": LONG_TEXT[:150], "encoding": "GSM-7", "units": 150,
             "status": status, "priority": Priority.BULK, "port": 17, "caller": "optimove", "attempts": 0,
             "next_attempt_at": T0, "created_at": T0, "updated_at": T0, "campaign_batch_id": batch.id}
            for i, status in enumerate(("QUEUED", "SENT", "FAILED"))])
        db.session.add(OptimoveCallback(kind="delivery-report", idempotency_key="dlr:1:DELIVERED", body='{"type":{}}',
                                        state="DEAD", attempts=5, next_attempt_at=T0, last_status=422,
                                        last_error="HTTP 422: " + "bad metadata " * 10, created_at=T0))
        db.session.add(AuditEvent(at=T0, actor="admin@roko.test", action="sms.send", target=FARMER,
                                  details={"count": 1, "encoding": "GSM-7", "units": 150, "first_id": 1,
                                           "last_id": 1, "note": "z" * 80}))
        ids = {"draw": draw_id, "message": failed.id, "batch": db.session.scalar(select(CampaignBatch.id)),
               "user": db.session.scalar(select(User.id).where(User.email == "viewer@roko.test")),
               "long": db.session.scalar(select(User.id).where(User.email.startswith("a.very.long")))}
        db.session.commit()
    return ids


def console_pages(ids: dict[str, Any]) -> dict[str, list[str]]:
    """The pages each role may open."""
    viewer = [
        "/console/", "/console/entries", "/console/messages", "/console/messages?dir=in",
        f"/console/messages/out/{ids['message']}", "/console/messages/replays", "/console/inbox",
        f"/console/farmers/{FARMER}", f"/console/farmers/{BLOCKED}", "/console/farmers/633000000",
        "/console/campaigns", f"/console/campaigns/{ids['batch']}", "/console/draws", f"/console/draws/{ids['draw']}",
        "/console/optimove", "/console/account/password",
    ]
    operator = [
        *viewer, f"/console/farmers/{BLOCKED}/unblock", "/console/compose", f"/console/campaigns/{ids['batch']}/cancel",
        "/console/codes", "/console/replies", "/console/replies/VALID_FIRST",
    ]
    admin = [
        *operator, "/console/draws/new", "/console/admin/users", f"/console/admin/users/{ids['user']}/deactivate",
        f"/console/admin/users/{ids['user']}/reset-password", "/console/admin/api-keys",
        "/console/admin/api-keys/ops-dashboard-with-a-long-name/revoke", "/console/admin/audit",
    ]
    return {"viewer": viewer, "operator": operator, "admin": admin}


@pytest.fixture(scope="module")
def site(_migrated: str) -> Iterator[Site]:
    """The app in a werkzeug thread with rows in every list; its URL, the pages of each
    role and the ids of the rows."""
    app = create_app(base_config(_migrated, LOG_LEVEL="WARNING"))
    ids = seed(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="phone-width-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", console_pages(ids), ids
    finally:
        server.shutdown()
        thread.join(timeout=10)
        wipe_database(app)


def walk(tab: Any, base: str, pages: list[str], shots: bool) -> dict[str, list[str]]:
    """The problems of each page at each size; with ``shots``, a picture of each page on
    the phone in test-artifacts/ (phone-console-admin-users.png...)."""
    found: dict[str, list[str]] = {}
    for size, viewport in SIZES.items():
        tab.set_viewport_size(viewport)
        for path in pages:
            tab.goto(base + path)
            if shots and size == "phone":
                screenshot(tab, "phone" + re.sub(r"[^a-z0-9]+", "-", path.lower()).rstrip("-") + ".png")
            problems = tab.evaluate(MEASURE)
            if problems:
                found[f"{size} {path}"] = list(dict.fromkeys(problems))  # a problem of every row once
    return found


def shown_once(tab: Any, base: str, long_user: int) -> dict[str, list[str]]:
    """The pages shown once, after a form: a new API key, a one-time password (on the phone)."""
    found: dict[str, list[str]] = {}
    tab.set_viewport_size(SIZES["phone"])
    tab.goto(base + "/console/admin/api-keys")
    tab.fill("#name", "a-tool-with-a-rather-long-name")
    tab.click("form.write-form button[type=submit]")
    tab.wait_for_selector("#new-key")
    found["phone new API key"] = tab.evaluate(MEASURE)
    tab.goto(f"{base}/console/admin/users/{long_user}/reset-password")
    tab.click("#confirm-button")
    tab.wait_for_selector("#one-time-password")
    found["phone one-time password"] = tab.evaluate(MEASURE)
    return {page: problems for page, problems in found.items() if problems}


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_every_console_page_fits_a_phone_and_a_laptop(browser: Any, site: Site, role: str) -> None:
    base, pages, ids = site
    with checked_page(browser, viewport=SIZES["phone"]) as tab:
        tab.goto(base + "/login")
        assert tab.evaluate(MEASURE) == [], "the log-in page"
        tab.fill("#email", f"{role}@roko.test")
        tab.fill("#password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(base + "/console/")
        found = walk(tab, base, pages[role], shots=role == "admin")
        if role == "admin":
            found.update(shown_once(tab, base, ids["long"]))
        if found:
            pytest.fail("\n".join(f"{page}: {'; '.join(problems)}" for page, problems in found.items()), pytrace=False)


def test_public_and_error_pages_fit_a_phone_and_a_laptop(browser: Any, site: Site) -> None:
    """What a farmer or a passer-by opens (the log-in page, a draw's public page and its
    self-check answer, the pages for an unknown draw or address) and what an operator
    meets when refused; error statuses are expected here, so the browser's console is
    not checked (its 'failed to load' line for a 404 is the point)."""
    base, _pages, ids = site
    context = browser.new_context(locale="fr-FR", viewport=SIZES["phone"])
    context.set_default_timeout(10_000)
    try:
        tab = context.new_page()
        found = walk(tab, base, ["/login", f"/draws/{ids['draw']}", "/draws/no-such-draw", "/no-such-page"],
                     shots=False)
        tab.set_viewport_size(SIZES["phone"])
        tab.goto(f"{base}/draws/{ids['draw']}")
        tab.fill("#phone", FARMER)
        tab.fill("#code", "U10000001")
        tab.click("form.check-form button[type=submit]")
        tab.wait_for_url(f"{base}/draws/{ids['draw']}/check")
        if problems := tab.evaluate(MEASURE):
            found["phone self-check answer"] = problems
        tab.goto(base + "/login")
        tab.fill("#email", "viewer@roko.test")
        tab.fill("#password", PASSWORD)
        tab.click("button[type=submit]")
        tab.wait_for_url(base + "/console/")
        found.update(walk(tab, base, ["/console/admin/users", "/console/no-such-page"], shots=False))
    finally:
        context.close()
    if found:
        pytest.fail("\n".join(f"{page}: {'; '.join(problems)}" for page, problems in found.items()), pytrace=False)
