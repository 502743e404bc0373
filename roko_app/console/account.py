"""Your account: change your own password (and the change an admin's reset forces)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.services import accounts
from roko_app.services.errors import InvalidInput

#: What a user who must change its password may still reach.
_FORCED_CHANGE_OPEN = frozenset({"console.account_password", "static"})


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired()])
    new_password_again = PasswordField(_l("New password, again"), validators=[
        DataRequired(), EqualTo("new_password", message=_l("The two new passwords differ."))])


@bp.before_request
def _forced_password_change() -> Any:
    """After an admin reset the password, the console asks for a new one before anything else."""
    if (current_user.is_authenticated and current_user.must_change_password
            and request.endpoint not in _FORCED_CHANGE_OPEN):
        return redirect(url_for("console.account_password"))
    return None


@bp.route("/account/password", methods=["GET", "POST"])
@role_required(Role.VIEWER)
def account_password() -> Any:
    form = PasswordChangeForm()
    error = None
    user = current_user._get_current_object()  # the User itself: login_user below must not get the proxy
    if form.validate_on_submit():
        try:
            accounts.change_own_password(user, form.current_password.data, form.new_password.data)
        except accounts.WrongPassword:
            error = _("The current password is wrong.")
        except InvalidInput as exc:
            error = (_("The new password must differ from the current one.") if exc.field == "new_password"
                     else _("A password needs at least %(count)d characters.", count=accounts.MIN_PASSWORD_LENGTH))
        else:
            accounts.audit(user.email, "user.password_change", user.email, None, request.remote_addr)
            db.session.commit()
            login_user(user)  # the new session token: this session goes on, every other one ended
            flash(_("Your password is changed. Your other sessions are logged out."), "success")
            return redirect(url_for("console.dashboard"))
    status = 400 if form.is_submitted() else 200
    return render_template("console/account_password.html", form=form, error=error,
                           forced=user.must_change_password,
                           min_length=accounts.MIN_PASSWORD_LENGTH), status
