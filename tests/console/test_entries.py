"""The entries page: roles, filters, keyset pagination and the streamed CSV export
(the read model itself: tests/reads/test_entries.py)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import event, select

from roko_app.extensions import db
from roko_app.models import AuditEvent
from roko_app.reads import entries
from roko_app.reads.pager import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from tests.factories import T0, add_entries_at_equal_times, add_entry
from tests.helpers import pager_link


def page_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="entry-(\d+)"', html)]


# --------------------------------------------------------------------------- roles


READ_PAGES = ["/console/", "/console/entries", "/console/entries.csv", "/console/messages",
              "/console/messages?dir=out", "/console/farmers/612345678"]


@pytest.mark.parametrize("path", READ_PAGES)
def test_anonymous_is_sent_to_login(console_app: Any, path: str) -> None:
    response = console_app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_read_page_renders_for_every_role(console_app: Any, login: Any, role: str) -> None:
    with console_app.app_context():
        add_entry("612345678", "VALID_FIRST", T0, code="U12345678", chances=1)
        db.session.commit()
    client = login(role)
    for path in READ_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp
        body = response.get_data(as_text=True)
        # CSP: no inline script or style (a script file, <script src=...>, is allowed, and so is
        # a JSON data block, which is never run: the farmer page's counter gets its tables so)
        assert not re.search(r'<script(?![^>]*\b(?:src=|type="application/json"))', body), path
        assert "style=" not in body, path


def test_entries_page_lists_newest_first_with_links_to_the_farmer(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        old = add_entry("612345678", "VALID_FIRST", T0, code="U12345678", chances=1)
        new = add_entry("622334455", "INVALID_CODE", T0 + timedelta(minutes=5), code="U99999999",
                        text="ROKO U99999999 svp")
        db.session.commit()
        ids = [new.id, old.id]
    html = login("viewer").get("/console/entries").get_data(as_text=True)
    assert page_ids(html) == ids
    assert 'href="/console/farmers/622334455"' in html and "ROKO U99999999 svp" in html
    assert "10/06/2026 12:05" in html  # Conakry time (UTC+0)
    assert '<span class="badge INVALID_CODE">Code invalide</span>' in html


# --------------------------------------------------------------------------- keyset pagination


@pytest.fixture
def many(console_app: Any) -> list[int]:
    """13 entries: 7 of them at the same instant (the id decides), newest first."""
    with console_app.app_context():
        ids = add_entries_at_equal_times()
        db.session.commit()
        return ids


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 7, 13, 50])
def test_keyset_pages_cover_every_row_once_forwards_and_backwards(login: Any, many: list[int], limit: int) -> None:
    client = login("viewer")
    url: str | None = f"/console/entries?limit={limit}"
    pages: list[list[int]] = []
    urls: list[str] = []
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(page_ids(html))
        urls.append(url)
        url = pager_link(html, "next")
        assert len(pages) <= 14
    assert [i for page in pages for i in page] == many
    assert all(len(page) == limit for page in pages[:-1])
    # Back from the last page, "newer" gives the same pages again.
    html = client.get(urls[-1]).get_data(as_text=True)
    for expected in reversed(pages[:-1]):
        url = pager_link(html, "prev")
        assert url is not None
        html = client.get(url).get_data(as_text=True)
        assert page_ids(html) == expected
    assert pager_link(html, "prev") is None


@pytest.mark.parametrize("raw", ["garbage", "12_x", "_", "99999999999999999999_1", "", "1_99999999999999999999"])
def test_a_mangled_cursor_gives_the_first_page(login: Any, many: list[int], raw: str) -> None:
    html = login("viewer").get(f"/console/entries?limit=3&before={raw}").get_data(as_text=True)
    assert page_ids(html) == many[:3]


def test_limit_is_capped(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        for i in range(205):
            add_entry(f"61{i:07d}", "BAD_FORMAT", T0 + timedelta(seconds=i))
        db.session.commit()
    html = login("viewer").get("/console/entries?limit=5000").get_data(as_text=True)
    assert len(page_ids(html)) == MAX_PAGE_SIZE
    assert len(page_ids(login("viewer").get("/console/entries").get_data(as_text=True))) == DEFAULT_PAGE_SIZE


# --------------------------------------------------------------------------- filters


@pytest.fixture
def dataset(console_app: Any) -> dict[str, int]:
    with console_app.app_context():
        rows = {
            "before": add_entry("612345678", "VALID_FIRST", datetime(2026, 6, 8, 23, 59, 59, tzinfo=UTC), code="U00000001"),
            "from": add_entry("612345678", "INVALID_CODE", datetime(2026, 6, 9, 0, 0, 0, tzinfo=UTC), code="U00000002"),
            "mid": add_entry("622334455", "VALID_FIRST", datetime(2026, 6, 9, 13, 0, tzinfo=UTC), code="U00000003"),
            "to": add_entry("622334455", "DUPLICATE", datetime(2026, 6, 10, 23, 59, 59, 999999, tzinfo=UTC),
                            code="U00000003"),
            "after": add_entry("612345678", "BAD_FORMAT", datetime(2026, 6, 11, 0, 0, 0, tzinfo=UTC)),
            "foreign": add_entry("33612345678", "INVALID_CODE", datetime(2026, 6, 9, 8, 0, tzinfo=UTC),
                                 code="U00000009", guinea=False),
        }
        db.session.commit()
        return {name: entry.id for name, entry in rows.items()}


@pytest.mark.parametrize(("query", "expected"), [
    ("outcome=VALID_FIRST", ["mid", "before"]),
    ("from=2026-06-09&to=2026-06-10", ["to", "mid", "foreign", "from"]),  # Conakry days, "to" inclusive
    ("from=2026-06-11", ["after"]),
    ("to=2026-06-08", ["before"]),
    ("phone=%2B224+612+34+56+78", ["after", "from", "before"]),  # normalised
    ("phone=00224-622.334.455", ["to", "mid"]),
    ("phone=33612345678", ["foreign"]),  # not a Guinea number: as typed
    ("code=u00000003", ["to", "mid"]),
    ("code=00000003", ["to", "mid"]),
    ("code=U 0000 0003", ["to", "mid"]),
    ("code=nonsense", []),
    ("outcome=INVALID_CODE&from=2026-06-09&to=2026-06-09", ["foreign", "from"]),
    ("outcome=VALID_FIRST&phone=612345678&code=U00000001", ["before"]),
    ("from=2026-06-10&to=2026-06-09", []),
])
def test_filters(login: Any, dataset: dict[str, int], query: str, expected: list[str]) -> None:
    html = login("viewer").get(f"/console/entries?{query}").get_data(as_text=True)
    assert page_ids(html) == [dataset[name] for name in expected]


def test_filters_stay_on_the_pager_links(login: Any, dataset: dict[str, int]) -> None:
    client = login("viewer")
    html = client.get("/console/entries?outcome=INVALID_CODE&from=2026-06-09&limit=1").get_data(as_text=True)
    assert page_ids(html) == [dataset["foreign"]]
    older = pager_link(html, "next")
    assert older is not None
    query = parse_qs(urlsplit(older).query)
    assert query["outcome"] == ["INVALID_CODE"] and query["from"] == ["2026-06-09"] and query["limit"] == ["1"]
    html = client.get(older).get_data(as_text=True)
    assert page_ids(html) == [dataset["from"]] and pager_link(html, "next") is None


def test_date_range_pages_forwards_and_backwards(login: Any, dataset: dict[str, int]) -> None:
    """The cursor replaces the date bound it makes redundant: same rows either way."""
    client = login("viewer")
    url: str | None = "/console/entries?from=2026-06-09&to=2026-06-10&limit=1"
    pages: list[str] = []
    seen: list[int] = []
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(html)
        seen += page_ids(html)
        url = pager_link(html, "next")
    assert seen == [dataset[name] for name in ("to", "mid", "foreign", "from")]
    backwards: list[int] = []
    html = pages[-1]
    while (url := pager_link(html, "prev")) is not None:
        html = client.get(url).get_data(as_text=True)
        backwards += page_ids(html)
    assert backwards == seen[-2::-1]


def test_csv_export_of_a_date_range_in_chunks(console_app: Any, login: Any, dataset: dict[str, int],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entries, "CSV_CHUNK_ROWS", 1)
    rows = read_csv(login("viewer").get("/console/entries.csv?format=raw&from=2026-06-09&to=2026-06-10"))
    assert [int(row[0]) for row in rows[1:]] == [dataset[name] for name in ("to", "mid", "foreign", "from")]


@pytest.mark.parametrize("query", ["outcome=NOPE", "from=2026-13-01", "to=yesterday", "limit=-3", "limit=abc"])
def test_invalid_filters_are_ignored_with_a_warning(login: Any, dataset: dict[str, int], query: str) -> None:
    response = login("viewer").get(f"/console/entries?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "flash-warning" in html
    assert len(page_ids(html)) == len(dataset)


def test_filtered_page_links_to_the_farmer(login: Any, dataset: dict[str, int]) -> None:
    html = login("viewer").get("/console/entries?phone=%2B224612345678").get_data(as_text=True)
    assert 'href="/console/farmers/612345678">' in html


# --------------------------------------------------------------------------- CSV export


def read_csv(response: Any) -> list[list[str]]:
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_csv_export_streams_every_matching_row(console_app: Any, login: Any, dataset: dict[str, int]) -> None:
    client = login("viewer")
    response = client.get("/console/entries.csv?format=raw")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert re.fullmatch(r'attachment; filename="roko-entries-\d{8}-\d{6}\.csv"', response.headers["Content-Disposition"])
    rows = read_csv(response)
    assert rows[0] == list(entries.CSV_HEADER)
    assert [int(row[0]) for row in rows[1:]] == [dataset[n] for n in ("after", "to", "mid", "foreign", "from", "before")]
    by_id = {int(row[0]): row for row in rows[1:]}
    assert by_id[dataset["to"]][1:6] == ["2026-06-10 23:59:59", "622334455", "DUPLICATE", "U00000003", "0"]
    assert by_id[dataset["from"]][7] == "ROKO U00000002"


def test_the_page_links_both_exports_with_its_filters(console_app: Any, login: Any,
                                                     dataset: dict[str, int]) -> None:
    """The spreadsheet export for people, the machine form (``format=raw``) for other
    software; both carry the page's filters."""
    client = login("viewer")
    page = client.get("/console/entries?outcome=VALID_FIRST&phone=%2B224612345678").get_data(as_text=True)
    links = {re.sub(r"<[^>]+>", "", text).strip(): href.replace("&amp;", "&") for href, text in
             re.findall(r'<a[^>]*href="(/console/entries\.csv[^"]*)"[^>]*>(.*?)</a>', page)}
    assert set(links) == {"Exporter en CSV", "CSV pour d'autres logiciels"}
    spreadsheet, raw = links["Exporter en CSV"], links["CSV pour d'autres logiciels"]
    assert parse_qs(urlsplit(raw).query) == {"format": ["raw"], **parse_qs(urlsplit(spreadsheet).query)}
    rows = read_csv(client.get(raw))
    assert rows[0] == list(entries.CSV_HEADER)
    assert [int(row[0]) for row in rows[1:]] == [dataset["before"]]


def test_csv_export_applies_the_filters_and_is_audited(console_app: Any, login: Any, dataset: dict[str, int]) -> None:
    rows = read_csv(login("viewer").get("/console/entries.csv?format=raw&outcome=VALID_FIRST&phone=%2B224612345678"))
    assert [int(row[0]) for row in rows[1:]] == [dataset["before"]]
    with console_app.app_context():
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "entries.export"))
        assert event.actor == "viewer@roko.test"
        assert event.details == {"outcome": "VALID_FIRST", "phone": "612345678"}


def test_csv_export_reads_in_chunks_without_losing_rows(console_app: Any, login: Any, many: list[int],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entries, "CSV_CHUNK_ROWS", 2)  # 7 equal timestamps straddle chunks
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM entry" in statement:
            statements.append(statement)

    with console_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        rows = read_csv(login("viewer").get("/console/entries.csv?format=raw"))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [int(row[0]) for row in rows[1:]] == many
    assert len(statements) == 7  # 13 rows in chunks of 2: one fresh query per chunk


def test_csv_export_defuses_formulas_in_farmers_texts(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        add_entry("612345678", "BAD_FORMAT", T0, text='=HYPERLINK("http://evil","x")')
        add_entry("612345678", "BAD_FORMAT", T0 + timedelta(seconds=1), text="ligne 1\nligne 2, \"ok\"")
        db.session.commit()
    rows = read_csv(login("viewer").get("/console/entries.csv?format=raw"))
    assert rows[1][7] == "ligne 1\nligne 2, \"ok\""
    assert rows[2][7] == "'=HYPERLINK(\"http://evil\",\"x\")"


def test_entries_page_speaks_french_by_default(login: Any, dataset: dict[str, int]) -> None:
    html = login("viewer").get("/console/entries").get_data(as_text=True)
    assert "Exporter en CSV" in html and "Valide, 1re" in html and "Tous les résultats" in html
