"""The codes page: a CSV uploaded through the browser is imported with the CLI's rules
(report with line numbers, audit entry), and the batch statistics are shown."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from roko_app.console import code_registry as codes_page
from roko_app.extensions import db
from roko_app.models import AuditEvent, Code
from roko_app.services import code_registry
from tests.helpers import csrf_from, english

URL = "/console/codes"


def upload(client: Any, content: bytes, batch: str = "LOT-A", encoding: str = "utf-8-sig",
           filename: str = "codes.csv") -> Any:
    token = csrf_from(client.get(URL).get_data(as_text=True))
    return client.post(URL, data={"csrf_token": token, "batch": batch, "encoding": encoding,
                                  "file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")



def codes_in(app: Any) -> list[Code]:
    with app.app_context():
        rows = list(db.session.scalars(select(Code).order_by(Code.id)))
        db.session.expunge_all()
        return rows


def imports(app: Any) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "codes.import")))
        db.session.expunge_all()
        return rows


def stat(html: str, name: str) -> int:
    return int(re.search(rf'id="report-{name}">(\d+)<', html).group(1))


def test_anonymous_is_sent_to_login(console_app: Any) -> None:
    response = console_app.test_client().get(URL)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_viewer_cannot_import(console_app: Any, login: Any) -> None:
    client = login("viewer")
    assert client.get(URL).status_code == 403
    token = csrf_from(client.get("/console/").get_data(as_text=True))
    response = client.post(URL, data={"csrf_token": token, "batch": "LOT-A", "file": (io.BytesIO(b"code\nU12345678\n"), "c.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 403
    assert codes_in(console_app) == []


def test_import_reports_counts_and_bad_lines(console_app: Any, login: Any) -> None:
    content = (
        "code;region\n"          # line 1, Excel's French delimiter
        "U10000001;Kindia\n"     # 2
        "u10000002 ;Labé\n"      # 3 lower case and a space: fine
        "U1234;Boké\n"           # 4 malformed
        "\n"                     # 5 blank: skipped silently
        ";Mamou\n"               # 6 empty code
        "U10000001;Kindia\n"     # 7 duplicate of line 2
        "U10000003;Faranah;x\n"  # 8 three fields
    ).encode()
    client = english(login("operator"))
    response = upload(client, b"\xef\xbb\xbf" + content)  # with a BOM, as Excel writes it
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert (stat(html, "rows"), stat(html, "inserted"), stat(html, "present"), stat(html, "bad")) == (6, 2, 0, 4)
    assert "line 4: malformed code: expected U followed by 8 digits" in html
    assert "line 6: empty code" in html
    assert "line 7: duplicate: the same code is on an earlier line of this file" in html
    assert "line 8: expected 2 fields, found 3" in html
    assert "U1234" not in html and "U10000001" not in html  # codes are never echoed
    rows = codes_in(console_app)
    assert [r.batch for r in rows] == ["LOT-A", "LOT-A"]
    assert sorted(r.attributes["region"] for r in rows) == ["Kindia", "Labé"]
    with console_app.app_context():
        assert code_registry.find_code("U10000002", console_app.config["CODE_KEY"]) is not None
    (event,) = imports(console_app)
    assert event.actor == "operator@roko.test" and event.target == "LOT-A"
    assert event.details == {"file": "codes.csv", "rows": 6, "inserted": 2, "already_present": 0, "bad": 4}


def test_a_second_import_counts_codes_already_present(console_app: Any, login: Any) -> None:
    client = english(login("operator"))
    assert upload(client, b"code\nU10000001\nU10000002\n").status_code == 200
    html = upload(client, b"code\nU10000002\nU10000003\n", batch="LOT-B").get_data(as_text=True)
    assert (stat(html, "inserted"), stat(html, "present")) == (1, 1)
    assert "LOT-A: 1" in html  # already in another batch, left there
    assert len(codes_in(console_app)) == 3


def test_windows_1252_files_are_read_when_asked(console_app: Any, login: Any) -> None:
    content = "code,région\nU10000001,Labé\n".encode("cp1252")
    html = upload(english(login("operator")), content, encoding="cp1252").get_data(as_text=True)
    assert stat(html, "inserted") == 1
    assert codes_in(console_app)[0].attributes == {"région": "Labé"}


def test_a_file_that_is_not_utf8_is_refused_without_change(console_app: Any, login: Any) -> None:
    response = upload(english(login("operator")), "code,région\nU10000001,Labé\n".encode("cp1252"))
    assert response.status_code == 400
    assert "The file cannot be imported" in response.get_data(as_text=True)
    assert codes_in(console_app) == [] and imports(console_app) == []


def test_a_file_without_a_code_column_is_refused(console_app: Any, login: Any) -> None:
    response = upload(english(login("operator")), b"numero\nU10000001\n")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The file cannot be imported" in html and "no &#39;code&#39; column" in html
    assert codes_in(console_app) == [] and imports(console_app) == []


def test_only_the_first_bad_rows_are_listed(login: Any) -> None:
    content = "code\n" + "".join(f"bad{i}\n" for i in range(60))
    html = upload(english(login("operator")), content.encode()).get_data(as_text=True)
    assert stat(html, "bad") == 60
    assert html.count("malformed code") == codes_page.SHOWN_ERRORS
    assert "line 51: malformed" in html and "line 52: malformed" not in html
    assert "... and 10 more bad rows." in html


@pytest.mark.parametrize(("batch", "file"), [("", b"code\nU10000001\n"), ("bad batch!", b"code\nU10000001\n"),
                                             ("LOT-A", None)])
def test_a_missing_file_or_bad_batch_is_refused(console_app: Any, login: Any, batch: str, file: bytes | None) -> None:
    client = login("operator")
    token = csrf_from(client.get(URL).get_data(as_text=True))
    data: dict[str, Any] = {"csrf_token": token, "batch": batch, "encoding": "utf-8-sig"}
    if file is not None:
        data["file"] = (io.BytesIO(file), "codes.csv")
    assert client.post(URL, data=data, content_type="multipart/form-data").status_code == 400
    assert codes_in(console_app) == []


def test_an_upload_over_the_cap_is_refused(console_app: Any, login: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codes_page, "MAX_UPLOAD_BYTES", 2_000)
    response = upload(login("operator"), b"code\n" + b"U10000001\n" * 400)
    assert response.status_code == 413
    assert codes_in(console_app) == []


def test_form_without_csrf_is_refused(console_app: Any, login: Any) -> None:
    response = login("operator").post(URL, data={"batch": "LOT-A", "file": (io.BytesIO(b"code\nU10000001\n"), "c.csv")},
                                      content_type="multipart/form-data")
    assert response.status_code == 400
    assert codes_in(console_app) == []


def test_batch_statistics_show_issued_and_used(console_app: Any, login: Any) -> None:
    client = login("operator")
    upload(client, b"code\nU10000001\nU10000002\nU10000003\nU10000004\n", batch="LOT-A")
    upload(client, b"code\nU20000001\n", batch="LOT-B")
    with console_app.app_context():
        used = code_registry.find_code("U10000001", console_app.config["CODE_KEY"]).id
        db.session.execute(update(Code).where(Code.id == used).values(used_at=datetime.now(UTC), used_by="612345678"))
        db.session.commit()
    html = client.get(URL).get_data(as_text=True)
    table = html[html.index('id="batch-stats"'):]
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>", table)
    assert rows == [("LOT-A", "4", "1"), ("LOT-B", "1", "0")]
    used_percent = re.findall(r'<td class="num">([^<]*%)</td>', table)
    assert used_percent == ["25\u00a0%", "0\u00a0%"], used_percent  # French: 25 %, not 25.0


def test_the_import_report_speaks_french_in_the_singular_and_the_plural(login: Any) -> None:
    client = login("operator")
    html = upload(client, b"code\nU10000001\nU1234\n").get_data(as_text=True)
    assert 'id="report-rows">2</b>lignes lues' in html
    assert 'id="report-inserted">1</b>nouveau code<' in html
    assert 'id="report-present">0</b>déjà enregistré<' in html
    assert 'id="report-bad">1</b>ligne erronée (ignorée)' in html
    html = upload(client, b"code\nU10000001\nU10000002\nU10000003\n").get_data(as_text=True)
    assert 'id="report-inserted">2</b>nouveaux codes' in html and 'id="report-present">1</b>déjà enregistré<' in html
