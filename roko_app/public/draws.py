"""``GET /draws/<draw_id>``: a draw's published record, its evidence files, and
``POST /draws/<draw_id>/check``: an entrant checks their own participation. No log-in;
every view is rate-limited per address."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, make_response, render_template
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError

from roko_app.extensions import limiter
from roko_app.models.lucky_draw import DrawState
from roko_app.public.forms import SelfCheckForm
from roko_app.reads.draws import VERIFY_COMMAND, PublicDraw, check_participation, find_draw, public_draw
from roko_app.services.draws import bundle_zip

bp = Blueprint("public", __name__)


def _page_limit() -> str:
    return current_app.config["DRAW_PAGE_RATE_LIMIT"]


def _check_limit() -> str:
    return current_app.config["DRAW_CHECK_RATE_LIMIT"]


def _page(published: PublicDraw, form: SelfCheckForm, result: Any = None, status: int = 200) -> tuple[str, int]:
    return render_template("public/draw.html", d=published, draw=published.draw, form=form, result=result,
                           verify_command=VERIFY_COMMAND), status


def _not_found() -> tuple[str, int]:
    """The French page for an unknown draw (the app's 404 handler serves the console's)."""
    return render_template("public/not_found.html"), 404


@bp.errorhandler(CSRFError)
def _form_expired(_error: CSRFError) -> tuple[str, int]:
    return render_template("public/form_expired.html"), 400


@bp.errorhandler(RateLimitExceeded)
def _too_many(_error: RateLimitExceeded) -> tuple[str, int]:
    # Flask-Limiter adds Retry-After (RATELIMIT_HEADERS_ENABLED).
    return render_template("public/too_many.html"), 429


@bp.get("/draws/<draw_id>")
@limiter.limit(_page_limit)
def draw(draw_id: str) -> Any:
    published = public_draw(draw_id)
    if published is None:
        return _not_found()
    return _page(published, SelfCheckForm())


@bp.post("/draws/<draw_id>/check")
@limiter.limit(_check_limit)
def check(draw_id: str) -> Any:
    published = public_draw(draw_id)
    if published is None:
        return _not_found()
    form = SelfCheckForm()
    if not form.validate_on_submit():
        return _page(published, form, status=400)
    result = check_participation(published.draw, form.msisdn, form.canonical)
    response = make_response(_page(published, SelfCheckForm(formdata=None), result))
    response.headers["Cache-Control"] = "no-store"  # one entrant's answer: kept by no browser or proxy
    return response


@bp.get("/draws/<draw_id>/entries.csv")
@limiter.limit(_page_limit)
def entries_csv(draw_id: str) -> Any:
    found = find_draw(draw_id)
    if found is None or found.state == DrawState.OPEN:
        return _not_found()
    return Response(found.entries_csv or b"", mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{found.draw_id}-entries.csv"'})


@bp.get("/draws/<draw_id>/bundle.zip")
@limiter.limit(_page_limit)
def bundle(draw_id: str) -> Any:
    found = find_draw(draw_id)
    if found is None or found.state != DrawState.RUN:
        return _not_found()
    return Response(bundle_zip(found), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{found.draw_id}.zip"'})

