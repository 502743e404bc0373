"""The dashboard page: the figures, the two charts and the silent-gateway warning, in
French and English (the figures themselves: tests/reads/test_dashboard.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from freezegun import freeze_time

from roko_app.extensions import db
from tests.factories import DASHBOARD_LAST_SMS, DASHBOARD_NOW, add_dashboard_sample


@pytest.fixture
def known(console_app: Any) -> Any:
    with console_app.app_context():
        add_dashboard_sample()
        db.session.commit()
    return console_app


def test_dashboard_page_shows_the_figures(known: Any, login: Any) -> None:
    with freeze_time(DASHBOARD_NOW):  # log in under the frozen clock too: a session from the future is refused
        html = login("viewer").get("/console/").get_data(as_text=True)
    assert "Tableau de bord" in html and "Participations valides par heure, dernières 24 heures" in html  # French
    stat = re.findall(r"<b>([^<]*)</b>", html)
    assert stat[1:5] == ["3", "10", "3", "3"]  # valid today, campaign entries, outbox depth, failed
    assert 'href="/console/messages?dir=out&amp;status=FAILED"' in html
    assert 'href="/console/entries?outcome=VALID_FIRST&amp;from=2026-06-10&amp;to=2026-06-10"' in html
    assert html.count('<svg class="chart"') == 2 and html.count("<rect x=") == 24 + 4  # hours + days
    assert "08:29" in html  # the last SMS, Conakry time
    assert "stat-warn" not in html


@pytest.mark.parametrize(("minutes", "warned"), [(29, False), (31, True)])
def test_silent_gateway_warning(known: Any, login: Any, minutes: int, warned: bool) -> None:
    with freeze_time(DASHBOARD_LAST_SMS + timedelta(minutes=minutes)):
        html = login("viewer").get("/console/").get_data(as_text=True)
    assert ("stat-warn" in html) is warned


def test_empty_dashboard(console_app: Any, login: Any) -> None:
    response = login("viewer").get("/console/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "stat-warn" in html  # no SMS ever: the gateway may not be wired yet
    assert html.count('<svg class="chart"') == 2


def test_dashboard_in_english(known: Any, login: Any) -> None:
    client = login("viewer")
    client.get("/lang/en?next=/console/")
    html = client.get("/console/").get_data(as_text=True)
    assert "Dashboard" in html and "Valid entries per hour, last 24 hours" in html and "Failed messages" in html
