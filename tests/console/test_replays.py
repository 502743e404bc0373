"""Replays with a different content (issue 13): shown on the SMS in the incoming list
and in their own paged list, the kept version beside the one sent again."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from tests.helpers import text_in

URL = "/console/messages/replays"


def test_a_replay_with_another_text_is_shown_on_the_sms_and_in_the_list(console_app: Any, login: Any) -> None:
    kept = text_in(console_app, "ROKO U10000001", gateway_sms_id=7001, classify=False)
    assert text_in(console_app, "ROKO U10000009", gateway_sms_id=7001, classify=False) == kept
    other = text_in(console_app, "bonjour", gateway_sms_id=7002, classify=False)
    client = login("viewer")

    incoming = unescape(client.get("/console/messages", query_string={"dir": "in"}).get_data(as_text=True))
    row = re.search(rf'<tr id="in-{kept}">(.*?)</tr>', incoming, re.S)[1]
    assert "rejoué avec un autre contenu" in row and f'href="{URL}?sms={kept}"' in row
    assert "rejoué" not in re.search(rf'<tr id="in-{other}">(.*?)</tr>', incoming, re.S)[1]
    assert f'href="{URL}"' in incoming, "the list is one click away"

    page = unescape(client.get(URL, query_string={"sms": kept}).get_data(as_text=True))
    (row,) = re.findall(r'<tr id="replay-\d+">(.*?)</tr>', page, re.S)
    assert "ROKO U10000001" in row and "ROKO U10000009" in row and "Diffère par\">texte" in row
    assert f"Seulement le SMS n° {kept}." in page


def test_no_replay_says_so_and_viewers_may_read_it(console_app: Any, login: Any) -> None:
    response = login("viewer").get(URL)
    assert response.status_code == 200
    assert "Aucun SMS n'a été rejoué avec un autre contenu." in unescape(response.get_data(as_text=True))
    assert console_app.test_client().get(URL).status_code == 302, "anonymous: log in first"


def test_replays_are_paged(console_app: Any, login: Any) -> None:
    for i in range(5):
        text_in(console_app, "a", gateway_sms_id=8000 + i, classify=False)
        text_in(console_app, "b", gateway_sms_id=8000 + i, classify=False)
    client = login("viewer")
    first = client.get(URL, query_string={"limit": "2"}).get_data(as_text=True)
    assert len(re.findall(r'<tr id="replay-', first)) == 2
    older = re.search(r'href="([^"]*before=[^"]*)"', first)[1]
    second = client.get(unescape(older)).get_data(as_text=True)
    assert len(re.findall(r'<tr id="replay-', second)) == 2
    assert not set(re.findall(r'replay-(\d+)', first)) & set(re.findall(r'replay-(\d+)', second))
