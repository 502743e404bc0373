"""POST /draws/<draw_id>/check: an entrant learns about their own number only; the same
answer for a wrong code, someone else's code and an unknown number; CSRF; rate limit."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.models.lucky_draw import LuckyDraw
from tests.factories import DRAW_UNTIL, add_draw, add_entry
from tests.helpers import csrf_from

NOT_FOUND = "Nous ne trouvons aucune participation valide pour ce numéro avec ce code."


def _check(client: Any, draw_id: str, phone: str, code: str, *, csrf: bool = True) -> Any:
    data = {"phone": phone, "code": code}
    if csrf:
        data["csrf_token"] = csrf_from(client.get(f"/draws/{draw_id}").get_data(as_text=True))
    return client.post(f"/draws/{draw_id}/check", data=data)


def _answer(response: Any) -> str:
    match = re.search(r'<div class="flash flash-info" role="status" id="check-result">(.*?)</div>',
                      response.get_data(as_text=True), re.S)
    assert match, "no answer in the page"
    return " ".join(match.group(1).split())


def _picks(app: Any, draw_id: str) -> dict[str, tuple[int | None, int | None]]:
    with app.app_context():
        draw = db.session.query(LuckyDraw).filter_by(draw_id=draw_id).one()
        return {p.msisdn: (p.drawn_tier, p.alternate_rank) for p in draw.picks}


@pytest.fixture
def app(make_app: Any) -> Any:
    """The app, with room for the checks of one test (the limit has its own test)."""
    return make_app(DRAW_CHECK_RATE_LIMIT="100/minute")


@pytest.fixture
def run_draw(app: Any) -> tuple[str, dict[str, list[str]]]:
    return add_draw(app, "RUN", prizes=(("Tricycle", 1), ("Sac", 1)), alternates=1, people=6)


def test_an_entrant_sees_their_entries_and_whether_they_won(app: Any, run_draw: Any) -> None:
    draw_id, codes = run_draw
    picks = _picks(app, draw_id)
    client = app.test_client()
    assert len(picks) == 3 and len(codes) == 6
    for msisdn, own in codes.items():
        response = _check(client, draw_id, "+224 " + msisdn, own[1].lower())  # any form of the number and code
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
        answer = _answer(response)
        assert "Votre numéro a <b>2</b> participations dans la liste de ce tirage" in answer
        tier, alternate = picks.get(msisdn, (None, None))
        if tier == 1:
            assert "Vous avez gagné : Tricycle !" in answer
        elif tier == 2:
            assert "Vous avez gagné : Sac !" in answer
        elif alternate is not None:
            assert f"suppléant n° {alternate}" in answer
        else:
            assert "pas été tiré au sort" in answer
        for other in codes:
            if other != msisdn:
                assert other not in answer and other[:2] + "•••••" + other[-2:] not in answer


def test_a_closed_draw_answers_before_the_run(make_app: Any) -> None:
    app = make_app()
    draw_id, codes = add_draw(app, "CLOSED")
    msisdn, own = next(iter(codes.items()))
    answer = _answer(_check(app.test_client(), draw_id, msisdn, own[0]))
    assert "<b>2</b> participations" in answer and "Le tirage n'a pas encore eu lieu." in answer


def test_wrong_code_other_persons_code_and_unknown_number_get_the_same_answer(app: Any, run_draw: Any) -> None:
    draw_id, codes = run_draw
    (mine, my_codes), (_other, their_codes) = list(codes.items())[:2]
    client = app.test_client()
    answers = {
        "wrong code": _answer(_check(client, draw_id, mine, "U99999999")),
        "someone else's code": _answer(_check(client, draw_id, mine, their_codes[0])),
        "unknown number": _answer(_check(client, draw_id, "629999999", my_codes[0])),
        "unknown number and code": _answer(_check(client, draw_id, "629999999", "U12345678")),
    }
    assert set(answers.values()) == {f"<p>{NOT_FOUND} Vérifiez le numéro et le code : il doit être imprimé sur "
                                     "votre sac et avoir été envoyé par SMS depuis ce numéro.</p>"}, answers


def test_a_number_without_entries_in_the_list_is_told_so(app: Any) -> None:
    with app.app_context():
        add_entry("621111111", "VALID_FIRST", DRAW_UNTIL + timedelta(minutes=5), code="U11111111")  # after until
        db.session.commit()
    draw_id, _codes = add_draw(app, "RUN")
    answer = _answer(_check(app.test_client(), draw_id, "621111111", "U11111111"))
    assert "aucune participation dans la liste de ce tirage" in answer


def test_an_open_draw_has_no_list_to_check_yet(app: Any) -> None:
    draw_id, codes = add_draw(app, "OPEN")
    msisdn, own = next(iter(codes.items()))
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(f"/draws/{draw_id}/check", data={"phone": msisdn, "code": own[0], "csrf_token": token})
    assert "pas encore figée" in _answer(response)


@pytest.mark.parametrize(("phone", "code", "problem"), [
    ("", "U00000000", "Indiquez votre numéro."),
    ("12", "U00000000", "pas un numéro de téléphone valide"),
    ("620000000", "", "Indiquez un de vos codes."),
    ("620000000", "X1234", "U suivi de 8 chiffres"),
    ("620000000", "U" + "1" * 40, "trop long"),
])
def test_malformed_fields_are_400_with_the_reason(app: Any, run_draw: Any, phone: str, code: str,
                                                  problem: str) -> None:
    draw_id, _codes = run_draw
    response = _check(app.test_client(), draw_id, phone, code)
    assert response.status_code == 400 and problem in response.get_data(as_text=True)
    assert 'id="check-result"' not in response.get_data(as_text=True)


def test_missing_csrf_token_is_refused(app: Any, run_draw: Any) -> None:
    draw_id, codes = run_draw
    msisdn, own = next(iter(codes.items()))
    response = _check(app.test_client(), draw_id, msisdn, own[0], csrf=False)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and 'id="check-result"' not in html
    assert "Formulaire expiré" in html and f'href="/draws/{draw_id}"' in html


def test_unknown_draw_is_404(app: Any) -> None:
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/draws/nope/check", data={"phone": "620000000", "code": "U00000000", "csrf_token": token})
    assert response.status_code == 404 and "Tirage introuvable" in response.get_data(as_text=True)


def test_the_check_is_rate_limited_per_address(make_app: Any) -> None:
    app = make_app(DRAW_CHECK_RATE_LIMIT="3/hour", DRAW_PAGE_RATE_LIMIT="100/minute")
    draw_id, codes = add_draw(app, "RUN")
    msisdn, own = next(iter(codes.items()))
    client = app.test_client()
    token = csrf_from(client.get(f"/draws/{draw_id}").get_data(as_text=True))
    data = {"phone": msisdn, "code": own[0], "csrf_token": token}
    statuses = [client.post(f"/draws/{draw_id}/check", data=data).status_code for _ in range(3)]
    assert statuses == [200, 200, 200], "up to the limit: answered"
    refused = client.post(f"/draws/{draw_id}/check", data=data)
    assert refused.status_code == 429 and "Trop de demandes" in refused.get_data(as_text=True)
    assert 'id="check-result"' not in refused.get_data(as_text=True)
    assert client.get(f"/draws/{draw_id}").status_code == 200, "viewing has its own budget"
    elsewhere = client.post(f"/draws/{draw_id}/check", data=data, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert elsewhere.status_code == 200, "per address"
