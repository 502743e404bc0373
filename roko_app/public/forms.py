"""The public self-check form (French: the public pages are for the farmers)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from roko_app.sms.msisdn import InvalidMsisdn, normalize_msisdn
from roko_app.sms.parsing import canonical_code


class SelfCheckForm(FlaskForm):
    phone = StringField("Votre numéro de téléphone", validators=[
        DataRequired("Indiquez votre numéro."), Length(max=30, message="Ce numéro est trop long.")])
    code = StringField("Un de vos codes (imprimé sur le sac)", validators=[
        DataRequired("Indiquez un de vos codes."), Length(max=30, message="Ce code est trop long.")])

    def validate_phone(self, field: StringField) -> None:
        try:
            self.msisdn = normalize_msisdn(field.data or "")
        except InvalidMsisdn:
            raise ValidationError("Ce numéro n'est pas un numéro de téléphone valide.") from None

    def validate_code(self, field: StringField) -> None:
        code = canonical_code("".join((field.data or "").split()))
        if code is None:
            raise ValidationError("Un code s'écrit U suivi de 8 chiffres, par exemple U12345678.")
        self.canonical = code
