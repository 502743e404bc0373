"""The messages lists (issue 13): their total, search by part of a number and by text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest

from roko_app.extensions import db
from tests.factories import add_outbound, add_sms

T = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
URL = "/console/messages"


@pytest.fixture
def traffic(console_app: Any) -> None:
    with console_app.app_context():
        add_sms("612345678", "ROKO U10000001", T)
        add_sms("622345600", "Bonjour 100% ROKO", T + timedelta(minutes=1))
        add_sms("33612345678", "hello", T + timedelta(minutes=2), guinea=False)
        add_outbound("612345678", "Félicitations !", T)
        add_outbound("622345600", "Message non reconnu", T, status="FAILED")
        add_outbound("633000111", "Message non reconnu", T)
        db.session.commit()


@pytest.mark.parametrize(("args", "total", "present", "absent"), [
    ({"dir": "in"}, "3 messages", ["ROKO U10000001", "hello"], []),
    ({"dir": "in", "phone": "2345"}, "3 messages", ["hello"], []),  # in 612345678, 622345600 and 33612345678
    ({"dir": "in", "phone": "45 60"}, "1 message", ["Bonjour 100% ROKO"], ["ROKO U10000001"]),
    ({"dir": "in", "text": "100%"}, "1 message", ["Bonjour 100% ROKO"], ["hello"]),
    ({"dir": "in", "phone": "612345678"}, "1 message", ["ROKO U10000001"], ["hello"]),
    ({"dir": "out", "text": "NON RECONNU"}, "2 messages", ["633000111"], ["Félicitations"]),
    ({"dir": "out", "text": "non reconnu", "status": "FAILED"}, "1 message", ["622345600"], ["633000111"]),
    ({"dir": "out", "phone": "000"}, "1 message", ["633000111"], ["622345600"]),
])
def test_filters_and_totals(login: Any, traffic: None, args: dict[str, str], total: str, present: list[str],
                            absent: list[str]) -> None:
    html = unescape(login("viewer").get(URL, query_string=args).get_data(as_text=True))
    assert f'id="messages-total"><b>{total}</b>' in html
    body = html[html.index('id="messages-total"'):]
    assert all(text in body for text in present), present
    assert not any(text in body for text in absent), absent
