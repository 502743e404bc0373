"""The calls to Optimove (docs/optimove.md): what waits, and the dead letter, each with a retry button."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.listing import flash_invalid, page_urls, parse_cursors, parse_limit
from roko_app.extensions import db
from roko_app.models import CallbackState
from roko_app.models.accounts import Role
from roko_app.reads.callbacks import callback_counts, callbacks_page
from roko_app.services import accounts, optimove_callbacks
from roko_app.services.errors import NotFound


@bp.get("/optimove")
@role_required(Role.VIEWER)
def optimove_callbacks_list() -> Any:
    invalid: list[str] = []
    limit = parse_limit(request.args, invalid)
    state = request.args.get("state") or CallbackState.DEAD
    if state not in CallbackState.__members__:
        invalid.append("state")
        state = CallbackState.DEAD
    flash_invalid(invalid)
    before, after = parse_cursors(request.args)
    page = callbacks_page(state, before=before, after=after, limit=limit)
    return render_template("console/callbacks.html", page=page, state=state, counts=callback_counts(),
                           urls=page_urls("console.optimove_callbacks_list", page, state=state))


@bp.post("/optimove/<int:callback_id>/retry")
@role_required(Role.OPERATOR)
def optimove_callback_retry(callback_id: int) -> Any:
    try:
        optimove_callbacks.retry_dead(callback_id)
    except NotFound:
        abort(404)
    except optimove_callbacks.NotRetryable as exc:
        db.session.rollback()
        flash(_("This call to Optimove was replaced by a later one: sending it would undo the later one.")
              if exc.problem == "CALLBACK_SUPERSEDED" else _("This call to Optimove already went through."), "info")
        return redirect(url_for("console.optimove_callbacks_list"))
    accounts.audit(current_user.email, "optimove.retry", target=str(callback_id), address=request.remote_addr)
    db.session.commit()
    flash(_("The call goes to Optimove again in a moment (the same body and key)."), "success")
    return redirect(url_for("console.optimove_callbacks_list"))
