"""The dashboard refreshes its figures in place (issue 13): a new SMS shows up without a
reload, under the CSP (static/js/dashboard.js, no inline script), and a refresh that
fails says so instead of emptying the page."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.factories import make_user
from tests.helpers import log_in_browser, text_in


def campaign_total(page: Any) -> str:
    text = page.locator("#dashboard-live a.stat").nth(1).locator("b").inner_text()
    return re.sub(r"\s", "", text)


def test_new_entries_appear_without_a_reload(page: Any, live_server: Any, make_app: Any) -> None:
    app = make_app()
    make_user(app, "operator@roko.test", "operator")
    base = live_server(workers=1, threads=4, ROKO_DASHBOARD_REFRESH_SECONDS="1")
    log_in_browser(page, base)
    assert page.locator("#dashboard-live").get_attribute("data-refresh-seconds") == "1"
    before = int(campaign_total(page))
    page.evaluate("window.__notReloaded = true")
    text_in(app, "bonjour")
    text_in(app, "ROKO", sender="622334455")
    deadline = time.monotonic() + 10
    while campaign_total(page) != str(before + 2):  # no wait_for_function: it evaluates a string, which the CSP forbids
        assert time.monotonic() < deadline, f"still {campaign_total(page)}, expected {before + 2}"
        page.wait_for_timeout(200)
    assert int(page.locator("#dashboard-live").get_attribute("data-refreshed")) >= 1
    assert page.evaluate("window.__notReloaded") is True, "refreshed in place, not reloaded"
    assert page.locator("#dashboard-stale").is_hidden()
    page.goto("about:blank")  # stop refreshing before the server stops


def test_a_failed_refresh_keeps_the_figures_and_says_so(page: Any, live_server: Any, make_app: Any) -> None:
    app = make_app()
    make_user(app, "operator@roko.test", "operator")
    base = live_server(workers=1, threads=4, ROKO_DASHBOARD_REFRESH_SECONDS="1")
    log_in_browser(page, base)
    shown = campaign_total(page)
    page.context.clear_cookies()  # the session ends: the next fetch lands on the log-in page
    page.wait_for_selector("#dashboard-stale", state="visible")
    assert "rechargez la page" in page.locator("#dashboard-stale").inner_text()
    assert campaign_total(page) == shown
    page.goto("about:blank")  # stop refreshing before the server stops
