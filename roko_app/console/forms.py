"""Shapes of the console's write forms (business rules live in the services)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from roko_app.console.labels import ROLE_LABELS
from roko_app.models.accounts import Role

# What the CLI accepts with --encoding, narrowed to the two files operators get.
CSV_ENCODINGS = [("utf-8-sig", _l("UTF-8 (recommended)")), ("cp1252", _l("Windows-1252 (Excel \"CSV\" in French)"))]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
NAME_MESSAGE = _l("1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a digit.")


def sms_newlines(value: str | None) -> str | None:
    """Browsers submit a textarea's line breaks as CRLF; an SMS uses LF (one septet)."""
    if value is None:
        return None
    return value.replace("\r\n", "\n").replace("\r", "\n")


def role_choices() -> list[SelectChoice]:
    return [SelectChoice(role.value, str(label)) for role, label in ROLE_LABELS.items()]


def encoding_choices() -> list[SelectChoice]:
    return [SelectChoice(value, str(label)) for value, label in CSV_ENCODINGS]


class ComposeForm(FlaskForm):
    numbers = TextAreaField(_l("Phone numbers"), validators=[DataRequired(), Length(max=20_000)])
    text = TextAreaField(_l("Message"), filters=[sms_newlines], validators=[DataRequired(), Length(max=2_000)])


class FarmerMessageForm(FlaskForm):
    """The message box of a farmer's page: the number is in the URL, and the outbox checks
    the text (empty, longer than one SMS) as it does compose's."""

    text = TextAreaField(_l("Message"), filters=[sms_newlines])


class ReplyTemplateForm(FlaskForm):
    text = TextAreaField(_l("French text"), filters=[sms_newlines], validators=[DataRequired(), Length(max=2_000)])


class CodesImportForm(FlaskForm):
    file = FileField(_l("CSV file"), validators=[FileRequired()])
    batch = StringField(_l("Batch"), validators=[DataRequired(), Regexp(NAME_PATTERN, message=NAME_MESSAGE)])
    encoding = SelectField(_l("File encoding"), choices=encoding_choices, default="utf-8-sig")


class UserCreateForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), choices=role_choices, default=Role.VIEWER.value)
    password = PasswordField(_l("Password (leave empty to generate one)"), validators=[Optional(), Length(max=256)])


class UserRoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices)


class UserActiveForm(FlaskForm):
    active = SelectField(choices=[SelectChoice("1"), SelectChoice("0")])


class UserUnlockForm(FlaskForm):
    """Only the CSRF token: the user is in the URL."""


class ApiKeyCreateForm(FlaskForm):
    name = StringField(_l("Caller name"), validators=[DataRequired(), Regexp(NAME_PATTERN, message=NAME_MESSAGE)])


class ApiKeyRevokeForm(FlaskForm):
    """Only the CSRF token: the key's name is in the URL."""
