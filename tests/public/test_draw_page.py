"""The public draw page: what it shows in each state (and never shows), the evidence
downloads, the 404 page, the security headers and the per-address rate limit."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.models.lucky_draw import LuckyDraw
from roko_app.web.security import CONTENT_SECURITY_POLICY
from tests.factories import add_draw
from tests.helpers import ROOT


def _draw(app: Any, draw_id: str) -> LuckyDraw:
    with app.app_context():
        draw = db.session.query(LuckyDraw).filter_by(draw_id=draw_id).one()
        db.session.expunge(draw)
        return draw


def _page(client: Any, draw_id: str) -> str:
    response = client.get(f"/draws/{draw_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_an_open_draw_shows_its_commitment_and_source_but_no_seed(app: Any) -> None:
    draw_id, _codes = add_draw(app, "OPEN")
    with app.app_context():
        draw = db.session.query(LuckyDraw).filter_by(draw_id=draw_id).one()
        seed, commitment = draw.seed_hex, draw.commitment
    response = app.test_client().get(f"/draws/{draw_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and '<html lang="fr">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert commitment in html and "LONAGUI du 9 juin" in html and "Engagement" in html
    assert seed not in html
    assert "entries.csv" not in html and "Vérifier ma participation" in html
    assert "<form" not in html, "no self-check before the list is frozen"
    assert "<script" not in html and not re.search(r"\son[a-z]+=", html), "no script, inline or not"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_a_closed_draw_publishes_the_entry_list_hash_and_count(app: Any) -> None:
    draw_id, _codes = add_draw(app, "CLOSED")
    draw = _draw(app, draw_id)
    client = app.test_client()
    html = _page(client, draw_id)
    assert draw.entries_sha256 in html and "<b>12</b> participations de <b>6</b> numéros" in html
    assert "Graine révélée" not in html
    download = client.get(f"/draws/{draw_id}/entries.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert hashlib.sha256(download.data).hexdigest() == draw.entries_sha256
    assert client.get(f"/draws/{draw_id}/bundle.zip").status_code == 404, "no bundle before the run"


def test_a_run_draw_shows_seed_beacon_masked_winners_and_how_to_verify(app: Any, tmp_path: Path) -> None:
    draw_id, codes = add_draw(app, "RUN")
    with app.app_context():
        draw = db.session.query(LuckyDraw).filter_by(draw_id=draw_id).one()
        seed, randomness = draw.seed_hex, draw.beacon_randomness
        picks = [(p.msisdn, p.entry_id, p.drawn_tier, p.alternate_rank) for p in draw.picks]
    client = app.test_client()
    html = _page(client, draw_id)
    assert seed in html and randomness in html and "LONAGUI 2026-06-09 01 02 03" in html
    assert len(picks) == 5
    for msisdn, entry_id, _tier, _alternate in picks:
        assert msisdn[:2] + "•••••" + msisdn[-2:] in html
        assert msisdn not in html, "never the full number"
        assert f"n° {entry_id}" in html
    assert "Suppléants" in html and "python3 verify_draw.py ." in html
    assert "non attribués" not in html
    bundle = client.get(f"/draws/{draw_id}/bundle.zip")
    assert bundle.status_code == 200 and bundle.mimetype == "application/zip"
    zipfile.ZipFile(io.BytesIO(bundle.data)).extractall(tmp_path)
    folder = tmp_path / draw_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "VERIFY.md", "draw.json", "entries.csv", "exclusions.csv", "verify_draw.py"]
    checked = subprocess.run([sys.executable, "-I", "verify_draw.py", "."], cwd=folder, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout.strip().endswith("OK"), checked.stdout + checked.stderr
    assert (folder / "verify_draw.py").read_bytes() == (ROOT / "docs/verify_draw.py").read_bytes()
    assert codes  # the entrants exist


def test_prizes_left_without_a_winner_are_named(app: Any) -> None:
    draw_id, _codes = add_draw(app, "RUN", prizes=(("Tricycle", 1), ("Sac de 50 kg", 3)), alternates=1, people=2)
    html = _page(app.test_client(), draw_id)
    assert "Lots non attribués" in html and "2 × Sac de 50 kg" in html
    assert "Aucun suppléant." in html


@pytest.mark.parametrize("path", ["/draws/20260101-ABCDEF", "/draws/%C3%A9", "/draws/" + "X" * 300,
                                  "/draws/nope/entries.csv", "/draws/nope/bundle.zip"])
def test_an_unknown_draw_is_a_french_404_page(client: Any, path: str) -> None:
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "Tirage introuvable" in html and '<html lang="fr">' in html
    assert "Content-Security-Policy" in response.headers


def test_the_page_is_rate_limited_per_address(make_app: Any) -> None:
    app = make_app(DRAW_PAGE_RATE_LIMIT="3/minute")
    draw_id, _codes = add_draw(app, "OPEN")
    client = app.test_client()
    assert [client.get(f"/draws/{draw_id}").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(f"/draws/{draw_id}")
    assert refused.status_code == 429 and "Trop de demandes" in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    other = app.test_client()
    assert other.get(f"/draws/{draw_id}", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


def test_a_drand_draw_names_its_round_and_where_to_fetch_it(app: Any) -> None:
    from datetime import UTC, datetime

    from roko_app.services import draws

    with app.app_context():
        draw = draws.create_draw(name="Tirage drand", window_from=datetime(2023, 9, 14, tzinfo=UTC),
                                 window_until=datetime(2023, 9, 15, 10, 30, tzinfo=UTC), prizes=[("Sac", 1)],
                                 alternates=0, beacon=draws.parse_beacon("drand-quicknet:657413"), actor="a",
                                 now=datetime(2023, 9, 14, tzinfo=UTC))
        db.session.commit()
        draw_id = draw.draw_id
    html = _page(app.test_client(), draw_id)
    assert "drand (quicknet, League of Entropy), tour n° <b>657413</b>" in html
    assert ("https://api.drand.sh/52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971/public/657413"
            in html)
