"""Lucky draws in the console: the list, a draw's page (state, prizes, winners and
alternates with their claim state, the timeline) for every role, and the life cycle
for admins (create, close, run, export, claim, forfeit), each step one service call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from roko_app.auth.decorators import role_required
from roko_app.configuration import CAMPAIGN_TZ
from roko_app.console.blueprint import bp
from roko_app.console.labels import problem_text
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.reads.draws import draw_detail, draw_list
from roko_app.services import accounts, draws
from roko_app.services.errors import DomainError, NotFound

BEACON_CHOICES = [("drand-quicknet", _l("drand quicknet (every 3 s, recommended)")),
                  ("drand-mainnet", _l("drand mainnet (every 30 s)")),
                  ("manual", _l("A public value announced in advance"))]

# --- forms (shapes only; the rules are the service's) -------------------------------

def beacon_choices() -> list[SelectChoice]:
    return [SelectChoice(value, str(label)) for value, label in BEACON_CHOICES]


class DrawCreateForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    window_from = DateTimeLocalField(_l("Entries from (Conakry time)"), validators=[InputRequired()])
    window_until = DateTimeLocalField(_l("Entries until, excluded (Conakry time)"), validators=[InputRequired()])
    prizes = TextAreaField(_l("Prizes, tier 1 first: one per line, NAME:COUNT"),
                           validators=[DataRequired(), Length(max=2_000)])
    alternates = IntegerField(_l("Ranked alternates"), default=3, validators=[InputRequired(), NumberRange(0, 1000)])
    beacon_source = SelectField(_l("Randomness source"), choices=beacon_choices, default="drand-quicknet")
    beacon_round = IntegerField(_l("drand round (empty: the first one an hour after the window ends)"),
                                validators=[Optional(), NumberRange(min=1)])
    beacon_description = StringField(_l("Public value: what it will be and where it is published"),
                                     validators=[Optional(), Length(max=500)])
    exclude_previous_winners = BooleanField(_l("Leave out the winners of earlier draws"))
    exclusions = TextAreaField(_l("Numbers left out: one per line, then a comma and the reason (staff, distributor)"),
                               validators=[Optional(), Length(max=200_000)])


class DrawCloseForm(FlaskForm):
    confirm = BooleanField(_l("I confirm: the entry list is frozen for good"), validators=[DataRequired()])


class DrawRunForm(FlaskForm):
    signature = StringField(_l("drand signature of the round (hex)"), validators=[Optional(), Length(max=400)])
    previous_signature = StringField(_l("Previous round's signature (mainnet only)"),
                                     validators=[Optional(), Length(max=400)])
    value = StringField(_l("The public value, exactly as published"), validators=[Optional(), Length(max=500)])
    confirm = BooleanField(_l("I confirm: a draw runs once and its result is final"), validators=[DataRequired()])


class PickClaimForm(FlaskForm):
    entry_id = IntegerField(validators=[InputRequired()])
    # handing over cannot be undone, and the button sits beside "Forfeit…": confirmed
    confirm = BooleanField(_l("I confirm: the winner has received the prize"), validators=[DataRequired()])


class PickForfeitForm(FlaskForm):
    entry_id = IntegerField(validators=[InputRequired()])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])
    confirm = BooleanField(_l("I confirm: the prize goes to the next alternate"), validators=[DataRequired()])


# --- pages -----------------------------------------------------------------------------

@bp.get("/draws")
@role_required(Role.VIEWER)
def draws_list() -> Any:
    return render_template("console/draws.html", draws=draw_list())


@bp.route("/draws/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def draw_new() -> Any:
    form = DrawCreateForm()
    if form.validate_on_submit():
        try:
            draw = draws.create_draw(**_create_values(form), actor=current_user.email)
        except DomainError as exc:
            db.session.rollback()
            return render_template("console/draw_new.html", form=form, error=problem_text(exc)), 400
        _audit("draw.create", draw.draw_id)
        db.session.commit()
        flash(_("Draw %(id)s created; its commitment is published.", id=draw.draw_id), "info")
        return redirect(url_for("console.draw", draw_id=draw.draw_id))
    return render_template("console/draw_new.html", form=form, error=None), 400 if form.is_submitted() else 200


@bp.get("/draws/<draw_id>")
@role_required(Role.VIEWER)
def draw(draw_id: str) -> Any:
    return _draw_page(draw_id)


@bp.post("/draws/<draw_id>/close")
@role_required(Role.ADMIN)
def draw_close(draw_id: str) -> Any:
    form = DrawCloseForm()
    if not form.validate_on_submit():
        return _draw_page(draw_id, close_form=form, status=400)
    return _step(draw_id, "draw.close", _("The entry list is frozen."),
                 lambda: draws.close_draw(draw_id, actor=current_user.email))


@bp.post("/draws/<draw_id>/run")
@role_required(Role.ADMIN)
def draw_run(draw_id: str) -> Any:
    form = DrawRunForm()
    if not form.validate_on_submit():
        return _draw_page(draw_id, run_form=form, status=400)

    def run() -> Any:
        signature, previous = form.signature.data or None, form.previous_signature.data or None
        if signature is None and not form.value.data:  # a drand round: fetched where drand can be reached
            fetched = draws.fetch_beacon(draw_id, current_app.config["DRAND_URLS"],
                                         float(current_app.config["DRAND_TIMEOUT_SECONDS"]))
            if fetched is not None:
                signature, previous = fetched.signature, fetched.previous_signature
        return draws.run_draw(draw_id, actor=current_user.email, signature=signature, previous_signature=previous,
                              value=form.value.data or None, **_notice_options())

    return _step(draw_id, "draw.run", _("The draw has run; the winners' SMS are queued."), run)


@bp.post("/draws/<draw_id>/claim")
@role_required(Role.ADMIN)
def draw_claim(draw_id: str) -> Any:
    form = PickClaimForm()
    if not form.validate_on_submit():
        return _draw_page(draw_id, claim_form=form, status=400)
    return _step(draw_id, "draw.claim", _("The prize of entry %(entry)s is handed over.", entry=form.entry_id.data),
                 lambda: draws.claim(draw_id, form.entry_id.data, actor=current_user.email))


@bp.post("/draws/<draw_id>/forfeit")
@role_required(Role.ADMIN)
def draw_forfeit(draw_id: str) -> Any:
    form = PickForfeitForm()
    if not form.validate_on_submit():
        return _draw_page(draw_id, forfeit_form=form, status=400)
    return _step(draw_id, "draw.forfeit", _("The prize of entry %(entry)s is forfeited; the next alternate, if any, "
                                            "is notified.", entry=form.entry_id.data),
                 lambda: draws.forfeit(draw_id, form.entry_id.data, reason=form.reason.data,
                                       actor=current_user.email, **_notice_options()))


@bp.get("/draws/<draw_id>/bundle.zip")
@role_required(Role.ADMIN)
def draw_bundle(draw_id: str) -> Any:
    try:
        data = draws.bundle_zip(draws.get_draw(draw_id))
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(problem_text(exc), "error")
        return redirect(url_for("console.draw", draw_id=draw_id))
    _audit("draw.export", draw_id)
    db.session.commit()
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{draw_id}.zip"'})


# --- helpers ---------------------------------------------------------------------------

def _draw_page(draw_id: str, status: int = 200, **forms: Any) -> Any:
    detail = draw_detail(draw_id)
    if detail is None:
        abort(404)
    forms.setdefault("close_form", DrawCloseForm(formdata=None))
    forms.setdefault("run_form", DrawRunForm(formdata=None))
    forms.setdefault("forfeit_form", PickForfeitForm(formdata=None))
    forms.setdefault("claim_form", PickClaimForm(formdata=None))
    return render_template("console/draw.html", d=detail, draw=detail.draw, **forms), status


def _step(draw_id: str, action: str, done: str, call: Any) -> Any:
    """One life-cycle step: the service call, audited and committed, or refused unchanged."""
    try:
        call()
    except NotFound as exc:
        db.session.rollback()
        if exc.problem == "DRAW_NOT_FOUND":
            abort(404)
        flash(problem_text(exc), "error")  # an entry that holds no prize: the operator's typo
        return redirect(url_for("console.draw", draw_id=draw_id))
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "error")
        return redirect(url_for("console.draw", draw_id=draw_id))
    _audit(action, draw_id, {key: value for key, value in request.form.items()
                             if key in ("entry_id", "reason")} or None)
    db.session.commit()
    flash(done, "info")
    return redirect(url_for("console.draw", draw_id=draw_id))


def _create_values(form: DrawCreateForm) -> dict[str, Any]:
    """The service's arguments from the form (parsing refusals are the service's errors)."""
    prizes = [draws.parse_prize(line) for line in (form.prizes.data or "").splitlines() if line.strip()]
    source = form.beacon_source.data
    beacon = draws.parse_beacon(f"manual:{form.beacon_description.data or ''}" if source == "manual" else
                                f"{source}:{form.beacon_round.data}" if form.beacon_round.data else source)
    exclusions = draws.read_exclusion_lines((form.exclusions.data or "").splitlines())
    return {"name": form.name.data, "window_from": _conakry(form.window_from.data),
            "window_until": _conakry(form.window_until.data), "prizes": prizes, "alternates": form.alternates.data,
            "beacon": beacon, "exclude_previous_winners": form.exclude_previous_winners.data,
            "exclusions": exclusions}


def _conakry(moment: datetime) -> datetime:
    return moment.replace(tzinfo=CAMPAIGN_TZ)


def _notice_options() -> dict[str, int]:
    return {"port": current_app.config["TOPAZ_SEND_PORT"], "claim_days": current_app.config["DRAW_CLAIM_DAYS"]}


def _audit(action: str, target: str, details: dict[str, Any] | None = None) -> None:
    accounts.audit(current_user.email, action, target, details, request.remote_addr)
