"""Console draw pages: read-only for every role, the life cycle for admins only (POST
forms with CSRF, confirmation where a step cannot be undone), each step audited."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, OutboundSms
from roko_app.models.lucky_draw import LuckyDraw
from tests.factories import DRAW_BEACON_VALUE, add_draw, draw_entrants
from tests.helpers import csrf_from

ROLES = ("admin", "operator", "viewer")


def _draw(app: Any, draw_id: str) -> LuckyDraw:
    with app.app_context():
        draw = db.session.scalars(select(LuckyDraw).where(LuckyDraw.draw_id == draw_id)).one()
        _ = (draw.picks, draw.events, draw.prizes)
        db.session.expunge_all()
        return draw


def _post(client: Any, path: str, page: str, **data: Any) -> Any:
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_list_and_a_draw(console_app: Any, login: Any, role: str) -> None:
    draw_id, _codes = add_draw(console_app, "RUN")
    draw = _draw(console_app, draw_id)
    client = login(role)
    listing = client.get("/console/draws")
    assert listing.status_code == 200 and draw_id in listing.get_data(as_text=True)
    assert 'href="/console/draws"' in client.get("/console/").get_data(as_text=True), "in the menu"
    page = client.get(f"/console/draws/{draw_id}").get_data(as_text=True)
    assert "Tiré" in page and draw.commitment in page and draw.entries_sha256 in page
    for pick in draw.picks:
        assert pick.msisdn in page, "operators see the numbers they must call"
    assert "Chronologie" in page and "créé" in page and "SMS mis en file" in page
    admin_only = ("Télécharger le dossier de preuve", "Lot remis", "Renoncer au lot")
    assert all((text in page) == (role == "admin") for text in admin_only), role
    assert ("Nouveau tirage" in listing.get_data(as_text=True)) == (role == "admin")


def test_an_unknown_draw_is_404(login: Any) -> None:
    assert login("viewer").get("/console/draws/nope").status_code == 404


def test_a_prize_step_for_an_entry_without_a_prize_is_explained_on_the_draw_page(console_app: Any,
                                                                                login: Any) -> None:
    """A mistyped entry number is an operator's slip: the draw page says so, in French,
    and nothing changes; only a draw that does not exist is a 404."""
    draw_id, _codes = add_draw(console_app, "RUN")
    before = {p.entry_id: p.state for p in _draw(console_app, draw_id).picks}
    client = login("admin")
    page = f"/console/draws/{draw_id}"
    for step, data in (("claim", {"confirm": "y"}), ("forfeit", {"reason": "r", "confirm": "y"})):
        refused = _post(client, f"{page}/{step}", page, entry_id=999_999, **data)
        assert refused.status_code == 302 and refused.headers["Location"].endswith(page), step
        shown = client.get(page).get_data(as_text=True)
        assert f"La participation 999999 n&#39;a gagné aucun lot au tirage {draw_id}." in shown, step
    assert {p.entry_id: p.state for p in _draw(console_app, draw_id).picks} == before
    assert _post(client, "/console/draws/nope/claim", page, entry_id=1).status_code == 404


def test_anonymous_users_go_to_the_log_in_page(console_app: Any) -> None:
    response = console_app.test_client().get("/console/draws")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_admins_change_a_draw(console_app: Any, login: Any, role: str) -> None:
    draw_id, _codes = add_draw(console_app, "RUN")
    draw = _draw(console_app, draw_id)
    winner = next(p for p in draw.picks if p.tier is not None)
    client = login(role)
    page = f"/console/draws/{draw_id}"
    assert client.get("/console/draws/new").status_code == 403
    assert client.get(f"/console/draws/{draw_id}/bundle.zip").status_code == 403
    for step, data in (("close", {"confirm": "y"}), ("run", {"value": "x", "confirm": "y"}),
                       ("claim", {"entry_id": winner.entry_id, "confirm": "y"}),
                       ("forfeit", {"entry_id": winner.entry_id, "reason": "r", "confirm": "y"})):
        assert _post(client, f"/console/draws/{draw_id}/{step}", page, **data).status_code == 403
    assert _draw(console_app, draw_id).picks[0].state == draw.picks[0].state


def test_an_admin_takes_a_draw_through_its_life(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        draw_entrants(6)
        db.session.commit()
    # The session cookie must not come from the future: time only moves forward here.
    frozen = freeze_time("2026-05-30 12:00:00")
    clock = frozen.start()
    try:
        client = login("admin")
        assert 'placeholder="620000000,personnel"' in client.get("/console/draws/new").get_data(as_text=True)
        created = _post(client, "/console/draws/new", "/console/draws/new", name="Tirage de juin",
                        window_from="2026-06-01T00:00", window_until="2026-06-08T00:00",
                        prizes="Tricycle:1\r\nSac de 50 kg:2", alternates="2", beacon_source="manual",
                        beacon_description="LONAGUI du 9 juin", exclusions="620000005,staff")
        assert created.status_code == 302, created.get_data(as_text=True)
        draw_id = created.headers["Location"].rsplit("/", 1)[-1]
        page = f"/console/draws/{draw_id}"
        draw = _draw(console_app, draw_id)
        assert [(p.name, p.count) for p in draw.prizes] == [("Tricycle", 1), ("Sac de 50 kg", 2)]
        assert draw.window_from.isoformat() == "2026-06-01T00:00:00+00:00"  # Conakry is UTC+0
        clock.move_to("2026-06-07 23:59:59")
        early = _post(client, f"{page}/close", page, confirm="y")
        assert early.status_code == 302 and _draw(console_app, draw_id).state == "OPEN"
        assert (f"Le tirage {draw_id} reçoit des participations jusqu&#39;au 08/06/2026 00:00 : clôturez-le ensuite."
                in client.get(page).get_data(as_text=True))
        clock.move_to("2026-06-08 00:00:01")
        unconfirmed = _post(client, f"{page}/close", page)
        assert unconfirmed.status_code == 400 and _draw(console_app, draw_id).state == "OPEN"
        assert _post(client, f"{page}/close", page, confirm="y").status_code == 302
        closed = _draw(console_app, draw_id)
        assert (closed.state, closed.entries_count, closed.participants_count) == ("CLOSED", 10, 5), "staff out"
        clock.move_to("2026-06-09 10:00:00")
        assert _post(client, f"{page}/run", page, value=DRAW_BEACON_VALUE).status_code == 400, "needs confirming"
        assert _post(client, f"{page}/run", page, value=DRAW_BEACON_VALUE, confirm="y").status_code == 302
        ran = _draw(console_app, draw_id)
        assert ran.state == "RUN" and ran.beacon_value == DRAW_BEACON_VALUE
        winners = [p for p in ran.picks if p.tier is not None]
        alternate = next(p for p in ran.picks if p.alternate_rank == 1)
        # handing over cannot be undone: unconfirmed, nothing changes and that prize's form says why
        unconfirmed_claim = _post(client, f"{page}/claim", page, entry_id=winners[0].entry_id)
        assert unconfirmed_claim.status_code == 400
        html = unconfirmed_claim.get_data(as_text=True)
        row = html[html.index(f'id="pick-{winners[0].entry_id}"'):]
        row = row[:row.index("</tr>")]
        assert row.count("<details open>") == 1 and "Ce champ est requis" in row
        assert {p.entry_id: p.state for p in _draw(console_app, draw_id).picks}[winners[0].entry_id] == "notified"
        assert _post(client, f"{page}/claim", page, entry_id=winners[0].entry_id, confirm="y").status_code == 302
        assert _post(client, f"{page}/forfeit", page, entry_id=winners[1].entry_id, reason="").status_code == 400
        # not confirmed: that prize's form comes back open, with the reason typed and the refusal beside the box
        refused = _post(client, f"{page}/forfeit", page, entry_id=winners[1].entry_id, reason="Injoignable 30 jours")
        assert refused.status_code == 400
        html = refused.get_data(as_text=True)
        row = html[html.index(f'id="pick-{winners[1].entry_id}"'):]
        row = row[:row.index("</tr>")]
        assert "<details open>" in row and 'value="Injoignable 30 jours"' in row
        assert re.search(r'name="confirm"[^>]*>[^<]*</label>\s*<p class="field-error" role="alert">Ce champ est requis', row)
        other = html[html.index(f'id="pick-{alternate.entry_id}"'):]
        assert "<details open>" not in other[:other.index("</tr>")], "only the refused prize's form opens"
        assert _post(client, f"{page}/forfeit", page, entry_id=winners[1].entry_id,
                     reason="refuse le lot", confirm="y").status_code == 302
        after = {p.entry_id: p for p in _draw(console_app, draw_id).picks}
        assert after[winners[0].entry_id].state == "claimed"
        assert (after[winners[1].entry_id].state, after[winners[1].entry_id].forfeit_reason) == ("forfeited",
                                                                                                 "refuse le lot")
        assert after[alternate.entry_id].state == "notified" and after[alternate.entry_id].tier == winners[1].tier
        with console_app.app_context():
            to = db.session.scalars(select(OutboundSms.to_msisdn).where(OutboundSms.template_key == "WINNER")).all()
            assert alternate.msisdn in to
            actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target == draw_id)
                                         .order_by(AuditEvent.id)).all()
        assert actions == ["draw.create", "draw.close", "draw.run", "draw.claim", "draw.forfeit"]
        bundle = client.get(f"{page}/bundle.zip")
        assert bundle.status_code == 200 and bundle.mimetype == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(bundle.data)).namelist()
        assert sorted(names) == sorted(f"{draw_id}/{n}" for n in ("draw.json", "entries.csv", "exclusions.csv",
                                                                 "VERIFY.md", "verify_draw.py"))
        timeline = client.get(page).get_data(as_text=True)
        assert timeline.count("lot remis") >= 1 and "suppléant promu" in timeline
    finally:
        frozen.stop()


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("prizes", "Tricycle", 'NOM:NOMBRE avec un nombre d&#39;au moins 1 (par exemple Tricycle:2), et non '
                           '<q translate="no">Tricycle</q>.'),
    ("prizes", "T" * 41 + ":1", "a au plus 40 caractères"),
    ("window_until", "2026-05-01T00:00", "(01/05/2026 00:00) doit venir après son début (01/06/2026 00:00)"),
    ("exclusions", "620000001,ok\r\n12,staff", 'Numéros exclus, ligne 2 : <q translate="no">12</q>'),
])
def test_a_refused_creation_says_why_and_creates_nothing(console_app: Any, login: Any, field: str, value: str,
                                                         problem: str) -> None:
    values = {"name": "T", "window_from": "2026-06-01T00:00", "window_until": "2026-06-08T00:00",
              "prizes": "Tricycle:1", "alternates": "1", "beacon_source": "manual", "beacon_description": "x",
              field: value}
    with freeze_time("2026-05-30 12:00:00"):
        client = login("admin")
        response = _post(client, "/console/draws/new", "/console/draws/new", **values)
    assert response.status_code == 400 and problem in response.get_data(as_text=True)
    with console_app.app_context():
        assert db.session.scalar(select(LuckyDraw.id)) is None


def test_a_step_without_csrf_token_is_refused(console_app: Any, login: Any) -> None:
    draw_id, _codes = add_draw(console_app, "CLOSED")
    with freeze_time("2026-06-09 10:00:00"):
        client = login("admin")
        response = client.post(f"/console/draws/{draw_id}/run", data={"value": DRAW_BEACON_VALUE, "confirm": "y"})
    assert response.status_code == 400 and _draw(console_app, draw_id).state == "CLOSED"


def test_the_life_cycle_forms_are_french(console_app: Any, login: Any) -> None:
    draw_id, _codes = add_draw(console_app, "CLOSED")
    page = login("admin").get(f"/console/draws/{draw_id}").get_data(as_text=True)
    assert "Lancer le tirage" in page and "La valeur publique, exactement comme publiée" in page
    assert re.search(r'<input[^>]*name="confirm"', page)


def test_an_admin_runs_a_drand_draw_without_pasting_when_drand_answers(console_app: Any, login: Any) -> None:
    """The run form's signature left empty: the round is fetched from ROKO_DRAND_URLS and
    verified offline like a pasted one."""
    from datetime import UTC, datetime

    from roko_app.draws.drand import QUICKNET
    from roko_app.services import draws
    from tests.factories import add_entry
    from tests.helpers import drand_relay

    quick = {"round": 657413, "randomness": "fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587",
             "signature": "b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89"
                          "cd97b"}
    with console_app.app_context():
        add_entry("620000001", "VALID_FIRST", datetime(2023, 9, 15, 9, 5, tzinfo=UTC), code="U00000001")
        draw = draws.create_draw(name="Q", window_from=datetime(2023, 9, 15, 9, tzinfo=UTC),
                                 window_until=datetime(2023, 9, 15, 10, 30, tzinfo=UTC), prizes=[("Sac", 1)],
                                 alternates=0, beacon=draws.parse_beacon("drand-quicknet:657413"), actor="cli",
                                 now=datetime(2023, 9, 15, 9, tzinfo=UTC))
        draws.close_draw(draw.draw_id, actor="cli", now=datetime(2023, 9, 15, 10, 45, tzinfo=UTC))
        db.session.commit()
        draw_id = draw.draw_id
    with drand_relay({f"{QUICKNET.chain_hash}/public/657413": quick}) as (url, asked):
        console_app.config["DRAND_URLS"] = [url]
        client = login("admin")
        page = f"/console/draws/{draw_id}"
        assert _post(client, f"{page}/run", page, confirm="y").status_code == 302
    ran = _draw(console_app, draw_id)
    assert (ran.state, ran.beacon_randomness, len(asked)) == ("RUN", quick["randomness"], 1)


ENGLISH = re.compile(r"\b(?:draw|closed|already|first|prize|entry|entries|the)\b", re.IGNORECASE)


@pytest.mark.parametrize(("state", "step", "data", "french"), [
    ("CLOSED", "close", {"confirm": "y"}, "Le tirage {draw_id} est déjà clôturé."),
    ("OPEN", "run", {"value": DRAW_BEACON_VALUE, "confirm": "y"},
     "Le tirage {draw_id} n&#39;est pas encore clôturé : clôturez-le d&#39;abord."),
    ("RUN", "run", {"value": DRAW_BEACON_VALUE, "confirm": "y"},
     "Le tirage {draw_id} a déjà été lancé ; un tirage ne se lance qu&#39;une fois."),
    ("CLOSED", "claim", {"entry_id": "1", "confirm": "y"}, "Le tirage {draw_id} n&#39;a pas encore été lancé."),
], ids=["close-closed", "run-open", "run-twice", "claim-before-run"])
def test_a_refused_step_says_why_in_french_only(console_app: Any, login: Any, state: str, step: str,
                                                data: dict[str, str], french: str) -> None:
    """The flash is the console's words for the service's problem code, without the
    service's English sentence (the CLI's) beside it."""
    draw_id, _codes = add_draw(console_app, state)
    client = login("admin")
    page = f"/console/draws/{draw_id}"
    refused = _post(client, f"{page}/{step}", page, **data)
    assert refused.status_code == 302 and _draw(console_app, draw_id).state == state
    shown = client.get(page).get_data(as_text=True)
    flashes = re.findall(r'<p class="flash flash-error"[^>]*>(.*?)</p>', shown, re.DOTALL)
    assert flashes == [french.format(draw_id=draw_id)]
    assert ENGLISH.findall(flashes[0]) == []


def test_a_refused_creation_names_the_typed_value_as_data(console_app: Any, login: Any) -> None:
    with freeze_time("2026-05-30 12:00:00"):
        client = login("admin")
        response = _post(client, "/console/draws/new", "/console/draws/new", name="T", window_from="2026-06-01T00:00",
                         window_until="2026-06-08T00:00", prizes="Tricycle:1\r\nSac de riz", alternates="1",
                         beacon_source="manual", beacon_description="x")
    error = re.search(r'<p class="flash flash-error" role="alert" id="draw-error">(.*?)</p>',
                      response.get_data(as_text=True), re.DOTALL)
    assert response.status_code == 400 and error is not None
    assert error.group(1) == ('Un lot s&#39;écrit NOM:NOMBRE avec un nombre d&#39;au moins 1 (par exemple Tricycle:2), '
                              'et non <q translate="no">Sac de riz</q>.')
    assert "A prize is NAME:COUNT" not in response.get_data(as_text=True)
