"""The language switch (issue 12, item 9): the console's is a form posted with its CSRF
token, which keeps the choice for the account; a plain GET (the log-in page's links)
only sets this browser's cookie and never changes what is stored."""

from __future__ import annotations

import re
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.models import User
from tests.factories import make_user
from tests.helpers import csrf_from, log_in

EMAIL = "operator@roko.test"


@pytest.fixture
def operator(app: Any) -> Any:
    make_user(app, EMAIL, "operator")
    return log_in(app.test_client(), EMAIL)


def stored_locale(app: Any) -> str | None:
    with app.app_context():
        return db.session.query(User.locale).filter(User.email == EMAIL).scalar()


def test_a_get_changes_the_cookie_only(app: Any, operator: Any) -> None:
    response = operator.get("/lang/en?next=/console/")
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    assert stored_locale(app) is None, "a GET stores nothing"
    assert 'lang="en"' in operator.get("/console/").get_data(as_text=True), "this browser shows English"


def test_the_console_switch_is_a_form_with_csrf(app: Any, operator: Any) -> None:
    page = operator.get("/console/").get_data(as_text=True)
    assert not re.search(r'<a [^>]*href="/lang/', page), "no link changes the language"
    form = re.search(r'<form method="post" action="/lang/en"[^>]*>(.*?)</form>', page, re.S)
    assert form and 'name="csrf_token"' in form.group(1) and 'name="next" value="/console/?"' in form.group(1)
    assert operator.post("/lang/en", data={"next": "/console/"}).status_code == 400, "no CSRF token: refused"
    assert stored_locale(app) is None
    response = operator.post("/lang/en", data={"next": "/console/entries", "csrf_token": csrf_from(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/console/entries"
    assert stored_locale(app) == "en"
    assert 'lang="en"' in operator.get("/console/").get_data(as_text=True)


def test_the_stored_choice_follows_the_account_to_another_browser(app: Any, operator: Any) -> None:
    page = operator.get("/console/").get_data(as_text=True)
    operator.post("/lang/en", data={"next": "/console/", "csrf_token": csrf_from(page)})
    elsewhere = log_in(app.test_client(), EMAIL)
    assert 'lang="en"' in elsewhere.get("/console/").get_data(as_text=True)
    elsewhere.get("/lang/fr?next=/console/")  # this browser's own choice wins there
    assert 'lang="fr"' in elsewhere.get("/console/").get_data(as_text=True)
    assert stored_locale(app) == "en"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_the_switch_goes_back_only_to_our_own_pages(operator: Any, target: str) -> None:
    page = operator.get("/console/").get_data(as_text=True)
    response = operator.post("/lang/en", data={"next": target, "csrf_token": csrf_from(page)})
    assert response.headers["Location"] == "/console/"
    assert operator.get(f"/lang/fr?next={target}").headers["Location"] == "/console/"
