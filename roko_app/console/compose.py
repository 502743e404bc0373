"""Compose: one text to one or several numbers, through the outbox."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.forms import ComposeForm
from roko_app.console.labels import NUMBER_PROBLEMS
from roko_app.console.sms_counter import SMS_RULES, measure
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.services import accounts, broadcast, outbound


@bp.route("/compose", methods=["GET", "POST"])
@role_required(Role.OPERATOR)
def compose() -> Any:
    form = ComposeForm()
    if request.method == "GET" and request.args.get("to"):
        form.numbers.data = request.args["to"][:64]
    refused: broadcast.Recipients | None = None
    opted_out: broadcast.RecipientsOptedOut | None = None
    text_error = None
    if form.validate_on_submit():
        try:
            messages = broadcast.queue_to_many(form.numbers.data, form.text.data, port=current_app.config["TOPAZ_SEND_PORT"],
                                             caller=current_user.email[:64],
                                             skip_opted_out=request.form.get("skip_opted_out") == "1")
        except broadcast.RecipientsOptedOut as exc:
            opted_out = exc
        except broadcast.RecipientsRefused as exc:
            refused, text_error = exc.recipients, _text_problem(form.text.data)
        except (outbound.EmptyText, outbound.TextDoesNotFit):
            text_error = _text_problem(form.text.data)
        else:
            info = measure(form.text.data)
            skipped = len(broadcast.parse_recipients(form.numbers.data).numbers) - len(messages)
            accounts.audit(current_user.email, "sms.send", messages[0].to_msisdn if len(messages) == 1 else None,
                           {"count": len(messages), "encoding": info.encoding, "units": info.units,
                            "first_id": messages[0].id, "last_id": messages[-1].id,
                            **({"opted_out_skipped": skipped} if skipped else {})}, request.remote_addr)
            db.session.commit()
            flash(ngettext("%(num)d message queued; it goes out within a minute.",
                           "%(num)d messages queued; they go out within a minute.", len(messages)), "info")
            return redirect(url_for("console.compose"))
    status = 409 if opted_out is not None else 400 if form.is_submitted() else 200
    return render_template("console/compose.html", form=form, refused=refused, opted_out=opted_out,
                           text_error=text_error,
                           limit=broadcast.MAX_RECIPIENTS, problems=NUMBER_PROBLEMS, info=measure(form.text.data or ""),
                           sms_rules=SMS_RULES), status


def _text_problem(text: str) -> str | None:
    try:
        outbound.check_text(text)
    except outbound.EmptyText:
        return _("The message is empty.")
    except outbound.TextDoesNotFit as exc:
        info = exc.info
        return _("The message does not fit one SMS: %(units)d characters in %(encoding)s, at most %(limit)d.",
                 units=info.units, encoding=info.encoding, limit=info.limit)
    return None
