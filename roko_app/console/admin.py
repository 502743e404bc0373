"""Admin pages: users and roles, API keys, the audit log."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.confirm import confirm_page
from roko_app.console.forms import (
    ApiKeyCreateForm,
    ApiKeyRevokeForm,
    UserActiveForm,
    UserCreateForm,
    UserRoleForm,
    UserUnlockForm,
)
from roko_app.console.labels import ROLE_LABELS
from roko_app.console.listing import flash_invalid, page_urls, parse_cursors, parse_days, parse_limit
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.reads.audit import AuditFilters, audit_actions, audit_page
from roko_app.services import accounts, api_keys
from roko_app.services.errors import AlreadyExists, DomainError, InvalidInput, NotFound


def _audit(action: str, target: str | None, details: dict[str, Any] | None = None) -> None:
    accounts.audit(current_user.email, action, target, details, request.remote_addr)


def _no_store(body: str, status: int = 200) -> Any:
    """A page holding a secret shown once: never cached, never stored by the browser."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- users ------------------------------------------------------------------------------

@bp.route("/admin/users", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def users() -> Any:
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            user, password = accounts.create_user(form.email.data, form.role.data, form.password.data or None)
        except (InvalidInput, AlreadyExists) as exc:
            return _users_page(form, error=_account_problem(exc), status=400)
        _audit("user.create", user.email, {"role": user.role})
        db.session.commit()
        generated = not form.password.data
        return _no_store(_users_page(UserCreateForm(formdata=None), created=user,
                                     password=password if generated else None))
    return _users_page(form, status=400 if form.is_submitted() else 200)


@bp.post("/admin/users/<int:user_id>/role")
@role_required(Role.ADMIN)
def user_role(user_id: int) -> Any:
    user = _user_or_404(user_id)
    form = UserRoleForm()
    if not form.validate_on_submit():
        return _users_page(UserCreateForm(formdata=None), error=_("Choose a role."), status=400)
    before = user.role
    try:
        changed = accounts.change_role(current_user, user, form.role.data)
    except DomainError as exc:
        return _users_page(UserCreateForm(formdata=None), error=_account_problem(exc), status=400)
    if changed:
        _audit("user.role", user.email, {"from": before, "to": user.role})
        db.session.commit()
        flash(_("%(email)s is now %(role)s.", email=user.email, role=ROLE_LABELS[Role(user.role)]), "info")
    return redirect(url_for("console.users"))


@bp.get("/admin/users/<int:user_id>/deactivate")
@role_required(Role.ADMIN)
def user_deactivate_confirm(user_id: int) -> Any:
    user = _user_or_404(user_id)
    return confirm_page(
        title=_("Deactivate %(email)s?", email=user.email),
        consequences=[_("%(email)s will no longer be able to log in, and every session it has open ends now.",
                        email=user.email),
                      _("Its audit history stays. An administrator can reactivate the account later.")],
        action=url_for("console.user_active", user_id=user.id), fields={"active": "0"},
        button=_("Deactivate"), back=url_for("console.users"))


@bp.post("/admin/users/<int:user_id>/active")
@role_required(Role.ADMIN)
def user_active(user_id: int) -> Any:
    user = _user_or_404(user_id)
    form = UserActiveForm()
    if not form.validate_on_submit():
        abort(400)
    active = form.active.data == "1"
    try:
        changed = accounts.change_active(current_user, user, active)
    except DomainError as exc:
        return _users_page(UserCreateForm(formdata=None), error=_account_problem(exc), status=400)
    if changed:
        _audit("user.reactivate" if active else "user.deactivate", user.email)
        db.session.commit()
        flash(_("%(email)s can log in again.", email=user.email) if active
              else _("%(email)s can no longer log in.", email=user.email), "info")
    return redirect(url_for("console.users"))


@bp.get("/admin/users/<int:user_id>/reset-password")
@role_required(Role.ADMIN)
def user_reset_password_confirm(user_id: int) -> Any:
    user = _user_or_404(user_id)
    return confirm_page(
        title=_("Reset the password of %(email)s?", email=user.email),
        consequences=[_("%(email)s gets a one-time password, shown to you once on the next page: give it to them. "
                        "Their current password stops working and every session they have open ends now.",
                        email=user.email),
                      _("At their next log-in they must choose their own password.")],
        action=url_for("console.user_reset_password", user_id=user.id), button=_("Reset the password"),
        back=url_for("console.users"))


@bp.post("/admin/users/<int:user_id>/reset-password")
@role_required(Role.ADMIN)
def user_reset_password(user_id: int) -> Any:
    user = _user_or_404(user_id)
    if not UserUnlockForm().validate_on_submit():
        abort(400)
    try:
        one_time = accounts.reset_password(current_user, user)
    except accounts.CannotChangeSelf:
        return _users_page(UserCreateForm(formdata=None), status=400,
                           error=_("Change your own password from your account page (your e-mail, top right)."))
    _audit("user.password_reset", user.email)
    db.session.commit()
    return _no_store(render_template("console/password_reset.html", user=user, password=one_time))


@bp.post("/admin/users/<int:user_id>/unlock")
@role_required(Role.ADMIN)
def user_unlock(user_id: int) -> Any:
    user = _user_or_404(user_id)
    if not UserUnlockForm().validate_on_submit():
        abort(400)
    forgotten = accounts.unlock(user, _login_policy())
    _audit("user.unlock", user.email, {"forgotten_failures": forgotten})
    db.session.commit()
    flash(_("%(email)s is unlocked: its failed log-ins are forgotten and it can log in again from any address.",
            email=user.email), "info")
    return redirect(url_for("console.users"))


def _login_policy() -> accounts.LoginPolicy:
    return accounts.LoginPolicy.from_config(current_app.config)


def _user_or_404(user_id: int) -> Any:
    try:
        return accounts.get_user(user_id)
    except NotFound:
        abort(404)


def _users_page(form: UserCreateForm, *, status: int = 200, **extra: Any) -> Any:
    body = render_template("console/users.html", form=form, users=accounts.list_users(), role_form=UserRoleForm(formdata=None),
                           roles=ROLE_LABELS, locks=accounts.lock_states(_login_policy()), **extra)
    return body if status == 200 else (body, status)


def _account_problem(exc: DomainError) -> str:
    if isinstance(exc, AlreadyExists):
        return _("An account with this e-mail exists already.")
    if isinstance(exc, accounts.CannotChangeSelf):
        return _("You cannot change your own role or deactivate yourself; ask another administrator.")
    if isinstance(exc, InvalidInput) and exc.field == "email":
        return _("This is not an e-mail address.")
    if isinstance(exc, InvalidInput) and exc.field == "password":
        return _("A password needs at least %(count)d characters.", count=accounts.MIN_PASSWORD_LENGTH)
    return _("This role does not exist.")


# --- API keys ---------------------------------------------------------------------------

@bp.route("/admin/api-keys", methods=["GET", "POST"], endpoint="api_keys")
@role_required(Role.ADMIN)
def api_keys_page() -> Any:
    form = ApiKeyCreateForm()
    if form.validate_on_submit():
        try:
            row, key = api_keys.create(form.name.data)
        except AlreadyExists:
            return _keys_page(form, _("A key with this name exists already (names are never reused)."), 400)
        except InvalidInput:
            return _keys_page(form, _("1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a digit."), 400)
        _audit("api_key.create", row.name, {"prefix": row.key_prefix})
        db.session.commit()
        return _no_store(render_template("console/api_key_created.html", row=row, key=key))
    return _keys_page(form, None, 400 if form.is_submitted() else 200)


@bp.get("/admin/api-keys/<name>/revoke")
@role_required(Role.ADMIN)
def api_key_revoke_confirm(name: str) -> Any:
    row = next((key for key in api_keys.list_keys() if key.name == name and not key.revoked), None)
    if row is None:
        abort(404)
    return confirm_page(
        title=_("Revoke the key of %(name)s?", name=row.name),
        consequences=[_("The key %(name)s (starting %(prefix)s…) will be refused from now on: every call made with "
                        "it answers 401.", name=row.name, prefix=row.key_prefix),
                      _("A revoked key cannot be restored, and its name cannot be reused: the caller will need a new "
                        "key under another name.")],
        action=url_for("console.api_key_revoke", name=row.name), button=_("Revoke"), back=url_for("console.api_keys"))


@bp.post("/admin/api-keys/<name>/revoke")
@role_required(Role.ADMIN)
def api_key_revoke(name: str) -> Any:
    if not ApiKeyRevokeForm().validate_on_submit():
        abort(400)
    try:
        row = api_keys.revoke(name)
    except NotFound:
        abort(404)
    _audit("api_key.revoke", row.name)
    db.session.commit()
    flash(_("The key of %(name)s is revoked: it is refused from now on.", name=row.name), "info")
    return redirect(url_for("console.api_keys"))


def _keys_page(form: ApiKeyCreateForm, error: str | None, status: int) -> Any:
    return render_template("console/api_keys.html", form=form, keys=api_keys.list_keys(), error=error), status


# --- audit log ---------------------------------------------------------------------------

@bp.get("/admin/audit")
@role_required(Role.ADMIN)
def audit() -> Any:
    invalid: list[str] = []
    days = parse_days(request.args, invalid)
    filters = AuditFilters(actor=(request.args.get("actor") or "").strip()[:254] or None,
                           action=(request.args.get("action") or "").strip()[:64] or None,
                           date_from=days["from"], date_to=days["to"],
                           tz=ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))
    limit = parse_limit(request.args, invalid)
    flash_invalid(invalid)
    before, after = parse_cursors(request.args)
    page = audit_page(filters, before=before, after=after, limit=limit)
    actions = audit_actions()
    return render_template("console/audit.html", page=page, urls=page_urls("console.audit", page),
                           actions=actions, families=sorted({a.split(".")[0] + "." for a in actions if "." in a}),
                           args=request.args)
