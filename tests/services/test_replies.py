"""Reply templates: seeded in French, one per outcome, each fitting one SMS."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import Outcome, ReplyTemplate
from roko_app.services import replies
from roko_app.services.errors import InvalidInput
from roko_app.sms.encoding import analyze


def test_every_outcome_has_a_seeded_template_equal_to_the_default(app: Any) -> None:
    with app.app_context():
        stored = {row.key: row.text for row in db.session.scalars(select(ReplyTemplate))}
    assert set(stored) == {o.value for o in Outcome}
    assert stored == {str(k): v for k, v in replies.DEFAULT_REPLIES.items()}


@pytest.mark.parametrize("key", list(replies.DEFAULT_REPLIES))
def test_each_default_is_gsm7_and_fits_once_filled_with_the_longest_values(key: str) -> None:
    info = replies.check_template(key, replies.DEFAULT_REPLIES[key])
    assert info.encoding == "GSM-7", info.offending
    assert info.fits


def test_saving_a_template_that_cannot_fit_is_refused(app: Any) -> None:
    with app.app_context():
        with pytest.raises(InvalidInput, match="one SMS holds 70"):
            replies.save_template("VALID_FIRST", "Votre reçu " + "x" * 50 + " {code}", updated_by="op@roko")
        with pytest.raises(InvalidInput, match="one SMS holds 160"):
            replies.save_template("VALID_FIRST", "x" * 152 + "{code}", updated_by="op@roko")
        with pytest.raises(InvalidInput, match="Unknown placeholder"):
            replies.save_template("VALID_FIRST", "Bravo {name}", updated_by="op@roko")
        with pytest.raises(InvalidInput, match="braces"):
            replies.save_template("VALID_FIRST", "Bravo {code", updated_by="op@roko")
        with pytest.raises(InvalidInput, match="Unknown reply template"):
            replies.save_template("NOPE", "Bravo", updated_by="op@roko")
        with pytest.raises(InvalidInput, match="empty"):
            replies.save_template("VALID_FIRST", "  ", updated_by="op@roko")


def test_a_template_at_the_limit_is_saved_and_used(app: Any) -> None:
    text = "x" * (160 - 9) + "{code}"  # 151 + 9 (U12345678) = 160 septets
    with app.app_context():
        replies.save_template("VALID_FIRST", text, updated_by="op@roko")
        db.session.commit()
        assert replies.render("VALID_FIRST", {"code": "U10000001"}) == "x" * 151 + "U10000001"
        assert db.session.get(ReplyTemplate, "VALID_FIRST").updated_by == "op@roko"


def test_an_overflowing_stored_template_falls_back_to_the_default(app: Any, caplog: Any) -> None:
    with app.app_context():
        db.session.get(ReplyTemplate, "INVALID_CODE").text = "y" * 200  # bypassing the check
        db.session.commit()
        text = replies.render("INVALID_CODE", {"code": "U1"})
        assert text == replies.DEFAULT_REPLIES["INVALID_CODE"].format(code="U1")
        assert analyze(text).fits
    assert "does not fit" in caplog.text
