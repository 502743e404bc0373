"""The French catalogue is complete, compiled, and the console speaks French by default."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[2] / "roko_app" / "translations"
PO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"


def test_every_source_string_has_a_french_translation() -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as handle:
        template = read_po(handle)
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    missing = [m.id for m in template if m.id and not (catalog.get(m.id) and catalog.get(m.id).string)]
    assert missing == [], "run `python scripts/translate.py` and translate these"
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert fuzzy == []


def test_the_committed_mo_is_compiled_from_the_po() -> None:
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert (PO.with_suffix(".mo")).read_bytes() == compiled.getvalue(), "run `python scripts/translate.py`"


def test_console_pages_are_french_by_default_and_english_on_request(login: Any) -> None:
    client = login("admin")
    page = client.get("/console/").get_data(as_text=True)
    assert "Tableau de bord" in page and "Se déconnecter" in page
    client.get("/lang/en?next=/console/")
    assert "Dashboard" in client.get("/console/").get_data(as_text=True)
