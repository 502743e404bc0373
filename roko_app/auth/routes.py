"""``/login`` and ``/logout``."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from roko_app.auth.forms import LoginForm
from roko_app.extensions import db
from roko_app.services import accounts
from roko_app.web.security import safe_next

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    destination = safe_next(request.values.get("next"), url_for("console.dashboard"))
    if current_user.is_authenticated:
        return redirect(destination)
    form = LoginForm()
    if form.validate_on_submit():
        address = request.remote_addr or "-"
        policy = accounts.LoginPolicy.from_config(current_app.config)
        try:
            attempt = accounts.begin_login(form.email.data, address, policy)
        except accounts.LoginThrottled as exc:
            db.session.rollback()
            flash(_("This account is locked after too many failed attempts. Ask an administrator to unlock it, "
                    "or wait a few minutes.") if exc.scope == "account"
                  else _("Too many failed attempts. Wait a few minutes before trying again."), "error")
            return render_template("auth/login.html", form=form, next=destination), 429
        db.session.commit()  # the attempt counts (as a failure until proven otherwise) before the check
        user = accounts.finish_login(attempt, form.password.data, policy, address)
        if user is None:
            db.session.commit()  # keep the failure and its audit
            flash(_("Wrong e-mail or password."), "error")
            return render_template("auth/login.html", form=form, next=destination), 200
        session.clear()  # a fresh session at log-in (no fixation)
        session["sid"] = secrets.token_hex(16)
        login_user(user)  # no "remember me" cookie: the session cookie is the only one
        accounts.audit(user.email, "login", address=address)
        db.session.commit()
        return redirect(destination)
    return render_template("auth/login.html", form=form, next=destination)


@bp.post("/logout")
def logout() -> Any:
    if current_user.is_authenticated:
        accounts.end_sessions(current_user)  # every cookie of this account, copies included, stops working
        accounts.audit(current_user.email, "logout", address=request.remote_addr)
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def index() -> Any:
    return redirect(url_for("console.dashboard"))
