"""The entries list (issue 13): its total in French ("1 234 participations"), search by
part of a number and by the SMS text, and the CSV export follows the same filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import insert, select

from roko_app.extensions import db
from roko_app.models import Entry, InboundSms
from roko_app.reads.entries import EntryFilters, count_entries, search_entries
from tests.factories import add_entry

T = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
URL = "/console/entries"


@pytest.fixture
def sample(console_app: Any) -> dict[str, int]:
    with console_app.app_context():
        made = {
            "a": add_entry("612345678", "VALID_FIRST", T, code="U10000001", text="ROKO U10000001 merci"),
            "b": add_entry("622345600", "BAD_FORMAT", T + timedelta(minutes=1), text="Bonjour, c'est 100% ROKO"),
            "c": add_entry("633000111", "BAD_FORMAT", T + timedelta(minutes=2), text="bonjour_roko"),
            "d": add_entry("644000222", "OPT_OUT", T + timedelta(minutes=3), text="STOP"),
        }
        db.session.commit()
        return {name: entry.id for name, entry in made.items()}


def shown(console_app: Any, **filters: Any) -> set[int]:
    with console_app.app_context():
        found = EntryFilters(**filters)
        rows = {row.id for row in search_entries(found).rows}
        assert count_entries(found) == len(rows)
        return rows


@pytest.mark.parametrize(("phone", "names"), [
    ("2345", {"a", "b"}), ("45 60", {"b"}), ("000", {"c", "d"}), ("612345678", {"a"}), ("+224 612 34 56 78", {"a"}),
    ("12", set()),  # under 3 digits: taken as a whole number, which no one has
    ("61234567", {"a"}),  # 8 digits: a part
])
def test_part_of_a_number(console_app: Any, sample: dict[str, int], phone: str, names: set[str]) -> None:
    assert shown(console_app, phone=phone) == {sample[name] for name in names}


@pytest.mark.parametrize(("text", "names"), [
    ("BONJOUR", {"b", "c"}), ("100%", {"b"}), ("o_j", set()), ("_roko", {"c"}), ("merci", {"a"}), ("zzz", set()),
])
def test_part_of_the_text_any_case_wildcards_literal(console_app: Any, sample: dict[str, int], text: str,
                                                     names: set[str]) -> None:
    assert shown(console_app, text=text) == {sample[name] for name in names}


def test_filters_combine(console_app: Any, sample: dict[str, int]) -> None:
    assert shown(console_app, text="bonjour", phone="000", outcome="BAD_FORMAT") == {sample["c"]}


def test_the_page_shows_the_total_in_french(console_app: Any, login: Any, sample: dict[str, int]) -> None:
    client = login("viewer")
    html = unescape(client.get(URL).get_data(as_text=True))
    assert re.search(r'id="entries-total"><b>4 participations</b>', html)
    html = unescape(client.get(URL, query_string={"text": "merci"}).get_data(as_text=True))
    assert '<b>1 participation</b>' in html
    html = unescape(client.get(URL, query_string={"phone": "2345"}).get_data(as_text=True))
    assert "<b>2 participations</b>" in html and "Page de l'agriculteur" not in html, "a part names no farmer"
    csv_link = re.search(r'href="(/console/entries\.csv[^"]*)"', client.get(URL, query_string={"text": "bonjour"})
                         .get_data(as_text=True))[1]
    body = client.get(unescape(csv_link)).get_data(as_text=True)
    assert body.count("\r\n") == 3, "the header and the two matching entries"


def test_thousands_are_separated_the_french_way(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        sms_ids = list(db.session.scalars(insert(InboundSms).returning(InboundSms.id, sort_by_parameter_order=True), [
            {"gateway_sms_id": 900000 + i, "port": 17, "sender": "612345678", "sender_msisdn": "612345678",
             "text": "ROKO", "gateway_timestamp": T, "received_at": T, "source": "topaz"} for i in range(1234)]))
        participant_id = add_entry("612345678", "BAD_FORMAT", T).participant_id
        db.session.execute(insert(Entry), [{"sms_id": sms_id, "participant_id": participant_id, "msisdn": "612345678",
                                            "outcome": "BAD_FORMAT", "chances": 0, "created_at": T}
                                           for sms_id in sms_ids[1:]])
        db.session.commit()
        assert db.session.scalar(select(db.func.count()).select_from(Entry)) == 1234
    html = login("viewer").get(URL).get_data(as_text=True)
    assert "<b>1\u202f234 participations</b>" in html
