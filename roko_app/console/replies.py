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
from roko_app.console.sms_counter import SMS_RULES, measure
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.services import accounts, replies
from roko_app.services.errors import InvalidInput, NotFound

OUTCOME_LABELS = {
    "VALID_FIRST": _l("First valid code of a number"),
    "VALID_AGAIN": _l("Another valid code of the same number"),
    "DUPLICATE": _l("Code already sent by this number"),
    "ALREADY_USED": _l("Code already used by another number"),
    "INVALID_CODE": _l("Unknown code"),
    "BAD_FORMAT": _l("Message not understood"),
    "CAMPAIGN_CLOSED": _l("Campaign over"),
    "CAMPAIGN_NOT_STARTED": _l("Campaign not started yet"),
    "BLOCKED": _l("Number blocked after too many bad codes"),
    "OPT_OUT": _l("Farmer asked to stop receiving messages"),
}
PLACEHOLDER_HELP = {
    "code": _l("the code the farmer sent (U + 8 digits)"),
    "chances": _l("the farmer's valid entries, this one included"),
    "hours": _l("how many hours a blocked number stays blocked"),
}


@bp.get("/replies")
@role_required(Role.OPERATOR)
def templates() -> Any:
    rows = [(row, measure(row.text, replies.WORST_CASE)) for row in replies.list_templates()]
    return render_template("console/replies.html", rows=rows, labels=OUTCOME_LABELS, **_placeholders())


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
            error = _template_problem(exc)
        else:
            info = measure(saved.text, replies.WORST_CASE)
            accounts.audit(current_user.email, "template.edit", key, {"encoding": info.encoding, "units": info.units},
                           request.remote_addr)
            db.session.commit()
            flash(_("Reply saved."), "info")
            return redirect(url_for("console.templates"))
    status = 400 if form.is_submitted() else 200
    return render_template("console/reply_edit.html", form=form, row=row, label=OUTCOME_LABELS.get(key, key),
                           error=error, info=measure(form.text.data or "", replies.WORST_CASE), sms_rules=SMS_RULES,
                           **_placeholders()), status


def _placeholders() -> dict[str, Any]:
    return {"placeholders": [(name, PLACEHOLDER_HELP.get(name, text), replies.WORST_CASE[name])
                             for name, text in replies.PLACEHOLDERS.items()],
            "worst_case": replies.WORST_CASE}


def _template_problem(exc: InvalidInput) -> str:
    if isinstance(exc, replies.TemplateTooLong):
        info = exc.info
        return _("Not saved: filled with the longest values, the reply takes %(units)d characters in %(encoding)s; "
                 "one SMS holds %(limit)d.", units=info.units, encoding=info.encoding, limit=info.limit)
    if isinstance(exc, replies.UnknownPlaceholder):
        return _("Not saved: %(names)s is not a placeholder. Use %(allowed)s.",
                 names=_braced(exc.names), allowed=_braced(replies.PLACEHOLDERS))
    return _("Not saved: the braces are not right. Placeholders are written %(allowed)s; write {{ or }} for a "
             "brace. (%(detail)s)", allowed=_braced(replies.PLACEHOLDERS), detail=exc.message)


def _braced(names: Any) -> str:
    return ", ".join("{" + name + "}" for name in names)
