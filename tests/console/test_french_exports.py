"""Issue 13, part 3: the entries export opens in a French spreadsheet (``;``, UTF-8 BOM,
French headers, outcomes in words, day-first times, cells still neutralised), and
``?format=raw`` keeps the machine form; error pages and service refusals in French."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from roko_app.extensions import db
from roko_app.reads.entries import CSV_HEADER
from tests.factories import add_entry
from tests.helpers import csrf_from

AT = datetime(2026, 6, 10, 8, 5, 9, tzinfo=UTC)


def export(client: Any, query: str = "") -> tuple[str, list[list[str]]]:
    response = client.get("/console/entries.csv" + query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data(as_text=True)
    assert body.startswith("\ufeff")
    delimiter = "," if "format=raw" in query else ";"
    return body, list(csv.reader(io.StringIO(body[1:]), delimiter=delimiter))


def test_the_export_is_a_french_spreadsheet(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        entry = add_entry("612345678", "VALID_FIRST", AT, code="U10000001", chances=2, text="=1+1 ROKO U10000001")
        db.session.commit()
        entry_id, sms_id = entry.id, entry.sms_id
    body, rows = export(login("viewer"))
    assert body.splitlines()[0].count(";") == 7
    assert rows == [
        ["N° participation", "Date et heure (Conakry, UTC)", "Numéro de téléphone", "Résultat", "Code", "Chances",
         "N° SMS", "Texte du SMS"],
        [str(entry_id), "10/06/2026 08:05:09", "612345678", "Valide, 1re", "U10000001", "2", str(sms_id),
         "'=1+1 ROKO U10000001"],
    ]


def test_the_raw_export_keeps_the_machine_form(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        entry = add_entry("612345678", "BAD_FORMAT", AT, text="bonjour")
        db.session.commit()
        entry_id, sms_id = entry.id, entry.sms_id
    body, rows = export(login("viewer"), "?format=raw")
    row = f"{entry_id},2026-06-10 08:05:09,612345678,BAD_FORMAT,,0,{sms_id},bonjour"
    assert body == "\ufeff" + ",".join(CSV_HEADER) + "\r\n" + row + "\r\n"
    assert rows[0] == list(CSV_HEADER)


def test_both_forms_follow_the_filters(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        add_entry("612345678", "VALID_FIRST", AT, code="U10000001")
        add_entry("622334455", "INVALID_CODE", AT, code="U99999999")
        db.session.commit()
    client = login("viewer")
    assert [row[3] for row in export(client, "?outcome=INVALID_CODE")[1][1:]] == ["Code invalide"]
    assert [row[3] for row in export(client, "?format=raw&outcome=INVALID_CODE")[1][1:]] == ["INVALID_CODE"]


# --- error pages --------------------------------------------------------------------------------


def test_a_forbidden_page_names_the_role_it_needs_and_offers_a_way_back(login: Any) -> None:
    response = login("viewer").get("/console/compose")
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "<h1>Non autorisé pour votre rôle</h1>" in html
    assert "Cette page demande le rôle Opérateur ; votre compte a le rôle Lecteur." in html
    assert 'href="/console/">Retour au tableau de bord</a>' in html


def test_error_pages_explain_what_happened(console_app: Any, login: Any) -> None:
    viewer = login("viewer")
    missing = viewer.get("/console/nothing-here")
    assert missing.status_code == 404 and "<h1>Page introuvable</h1>" in missing.get_data(as_text=True)
    wrong_method = viewer.get("/console/messages/1/requeue")
    assert wrong_method.status_code == 405
    assert "utilisez son bouton" in wrong_method.get_data(as_text=True)
    anonymous = console_app.test_client().get("/nothing-here").get_data(as_text=True)
    assert "<h1>Page introuvable</h1>" in anonymous and 'href="/login">Aller à la page de connexion</a>' in anonymous


def test_an_expired_form_says_so_and_changes_nothing(login: Any) -> None:
    operator = login("operator")
    response = operator.post("/console/messages/1/requeue", data={"csrf_token": "expired"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<h1>Le formulaire a expiré</h1>" in html and "Rechargez la page" in html


def test_a_server_error_page_is_french(make_app: Any) -> None:
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "<h1>Un problème est survenu de notre côté</h1>" in response.get_data(as_text=True)


def test_a_codes_file_without_a_code_column_is_refused_in_french(login: Any) -> None:
    client = login("operator")
    token = csrf_from(client.get("/console/codes").get_data(as_text=True))
    response = client.post("/console/codes", data={"csrf_token": token, "batch": "LOT-A", "encoding": "utf-8-sig",
                                                   "file": (io.BytesIO(b"numero;region\nU10000001;Kindia\n"), "c.csv")},
                           content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "la première ligne n&#39;a pas de colonne « code » (colonnes lues : numero, region)." in html
