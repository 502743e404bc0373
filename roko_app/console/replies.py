"""Reply templates: the French answer to each outcome, edited with the live counter."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.forms import ReplyTemplateForm
from roko_app.console.labels import TEMPLATE_LABELS
from roko_app.console.sms_counter import SMS_RULES, measure
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.services import accounts, replies
from roko_app.services.errors import InvalidInput, NotFound

PLACEHOLDER_HELP = {
    "code": _l("the code the farmer sent (U + 8 digits)"),
    "chances": _l("the farmer's valid entries, this one included"),
    "hours": _l("how many hours a blocked number stays blocked"),
    "prize": _l("WINNER only: the prize won (its name, at most 40 characters)"),
    "deadline": _l("WINNER only: the last day to claim the prize (dd/mm/yyyy)"),
}


@bp.get("/replies")
@role_required(Role.OPERATOR)
def templates() -> Any:
    rows = [(row, measure(row.text, replies.worst_case_of(row.key))) for row in replies.list_templates()]
    listed = _placeholders(None)
    listed["placeholders"] += _placeholders(replies.WINNER)["placeholders"]
    return render_template("console/replies.html", rows=rows, labels=TEMPLATE_LABELS, **listed)


@bp.route("/replies/<key>", methods=["GET", "POST"])
@role_required(Role.OPERATOR)
def template_edit(key: str) -> Any:
    try:
        row = replies.get_template(key)
    except NotFound:
        abort(404)
    form = ReplyTemplateForm(data={"text": row.text} if request.method == "GET" else None)
    error = None
    if form.validate_on_submit():
        try:
            saved = replies.save_template(key, form.text.data, updated_by=current_user.email[:120])
        except InvalidInput as exc:
            error = _template_problem(exc, key)
        else:
            info = measure(saved.text, replies.worst_case_of(key))
            accounts.audit(current_user.email, "template.edit", key, {"encoding": info.encoding, "units": info.units},
                           request.remote_addr)
            db.session.commit()
            flash(_("Reply saved."), "info")
            return redirect(url_for("console.templates"))
    status = 400 if form.is_submitted() else 200
    return render_template("console/reply_edit.html", form=form, row=row, label=TEMPLATE_LABELS.get(key, key),
                           error=error, info=measure(form.text.data or "", replies.worst_case_of(key)),
                           sms_rules=SMS_RULES, **_placeholders(key)), status


def _placeholders(key: str | None) -> dict[str, Any]:
    """The placeholders of template ``key`` (None: the outcome replies') and their longest values."""
    names, worst = replies.placeholders_of(key or ""), replies.worst_case_of(key or "")
    return {"placeholders": [(name, PLACEHOLDER_HELP.get(name, text), worst[name]) for name, text in names.items()],
            "worst_case": worst}


def _template_problem(exc: InvalidInput, key: str) -> str:
    if isinstance(exc, replies.TemplateTooLong):
        info = exc.info
        return _("Not saved: filled with the longest values, the reply takes %(units)d characters in %(encoding)s; "
                 "one SMS holds %(limit)d.", units=info.units, encoding=info.encoding, limit=info.limit)
    if isinstance(exc, replies.UnknownPlaceholder):
        return _("Not saved: %(names)s is not a placeholder. Use %(allowed)s.",
                 names=_braced(exc.names), allowed=_braced(exc.allowed))
    if isinstance(exc, replies.FormattedPlaceholder):
        return _("Not saved: a placeholder takes no format or conversion: %(fields)s. Write %(plain)s.",
                 fields=", ".join(exc.fields), plain=", ".join(exc.plain))
    if isinstance(exc, replies.BrokenBraces):
        return _("Not saved: the braces are not right (a lone %(braces)s). Placeholders are written %(allowed)s; "
                 "write {{ or }} for a brace.", braces=" ".join(exc.braces), allowed=_braced(replies.placeholders_of(key)))
    return _("Not saved: the reply is empty.")


def _braced(names: Any) -> str:
    return ", ".join("{" + name + "}" for name in names)
