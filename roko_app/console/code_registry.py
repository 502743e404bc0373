"""Codes: import a CSV of bag codes through the browser (the CLI's rules), batch statistics."""

from __future__ import annotations

import io
from typing import Any

from flask import current_app, render_template, request
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.forms import CodesImportForm
from roko_app.console.labels import problem_text
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.services import accounts, code_registry
from roko_app.services.errors import DomainError

# Largest upload; bigger files go through `flask roko codes import` on the server.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# Bad rows listed on the page; the rest are counted.
SHOWN_ERRORS = 50
@bp.url_value_preprocessor
def _upload_cap(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Cap the upload before anything reads the body: URL value preprocessors run before
    every ``before_request`` hook, including CSRFProtect's, which parses the form."""
    if endpoint == "console.codes":
        request.max_content_length = MAX_UPLOAD_BYTES


@bp.route("/codes", methods=["GET", "POST"])
@role_required(Role.OPERATOR)
def codes() -> Any:
    form = CodesImportForm()
    report, error = None, None
    if form.validate_on_submit():
        upload = form.file.data
        stream = io.TextIOWrapper(upload.stream, encoding=form.encoding.data, newline="")
        try:
            report = code_registry.import_codes(stream, form.batch.data, current_app.config["CODE_KEY"])
        except DomainError as exc:
            db.session.rollback()
            error = problem_text(exc)
        else:
            accounts.audit(current_user.email, "codes.import", report.batch,
                           {"file": (upload.filename or "")[:120], "rows": report.total_rows,
                            "inserted": report.inserted, "already_present": report.already_present,
                            "bad": report.error_count}, request.remote_addr)
            db.session.commit()
        finally:
            stream.detach()
    status = 400 if form.is_submitted() and report is None else 200
    return render_template("console/codes.html", form=form, report=report, error=error, stats=code_registry.batch_stats(),
                           shown=SHOWN_ERRORS, max_mb=MAX_UPLOAD_BYTES // (1024 * 1024)), status
