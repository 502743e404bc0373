"""French reply templates: one per outcome, editable, always one SMS once filled.

Templates use ``{placeholders}``: ``{code}`` (the code the farmer sent), ``{chances}``
(their valid entries) and ``{hours}`` (the length of a block). A template is checked
with the worst-case values when it is saved, and the filled text is checked again
before it is queued; if an edited template ever overflows, the built-in default of that
outcome is sent instead (and the problem logged), so a farmer is never left unanswered.
"""

from __future__ import annotations

import logging
import string
import time
from collections.abc import Mapping

from flask import current_app
from sqlalchemy import select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Outcome, ReplyTemplate
from roko_app.services.errors import InvalidInput, NotFound
from roko_app.sms.encoding import SegmentInfo, analyze

log = logging.getLogger(__name__)


class UnknownPlaceholder(InvalidInput):
    """The template uses ``{names}`` that are not placeholders (``names``, sorted)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__("text", f"Unknown placeholder(s): {', '.join('{' + u + '}' for u in names)}; "
                                 f"use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}.")
        self.names = names


class TemplateTooLong(InvalidInput):
    """Filled with the longest values, the template would not fit one SMS (``info``)."""

    def __init__(self, info: SegmentInfo) -> None:
        super().__init__("text", f"Once filled, the reply can take {info.units} units in {info.encoding}; "
                                 f"one SMS holds {info.limit}.")
        self.info = info


PLACEHOLDERS = {
    "code": "the code the farmer sent (U + 8 digits)",
    "chances": "the farmer's valid entries, this one included",
    "hours": "how long a blocked number stays blocked",
}
# The longest values a placeholder can take, for checking a template before saving it.
WORST_CASE = {"code": "U12345678", "chances": "99999", "hours": "9999"}

# Built-in defaults, the same texts the migration seeded (GSM-7 wording: limit 160).
DEFAULT_REPLIES: dict[str, str] = {
    Outcome.VALID_FIRST: "Félicitations ! Votre code {code} est validé. Vous participez au tirage au sort ROKO. "
    "Gardez le sac et le code jusqu'au tirage.",
    Outcome.VALID_AGAIN: "Merci ! Code {code} validé. Vous avez maintenant {chances} chances au tirage au sort ROKO. "
    "Chaque sac de Nano compte !",
    Outcome.DUPLICATE: "Votre code {code} est déjà enregistré pour votre numéro. Vous avez {chances} chance(s) au "
    "tirage au sort ROKO.",
    Outcome.ALREADY_USED: "Le code {code} a déjà été utilisé par un autre numéro. Vérifiez le code sur votre sac ou "
    "contactez votre revendeur ROKO.",
    Outcome.INVALID_CODE: "Le code {code} n'est pas reconnu. Vérifiez le code sur votre sac et renvoyez ROKO suivi du "
    "code, par exemple: ROKO U12345678",
    Outcome.BAD_FORMAT: "Message non reconnu. Envoyez ROKO suivi du code imprimé sur votre sac de Nano, par exemple: "
    "ROKO U12345678",
    Outcome.CAMPAIGN_CLOSED: "La campagne ROKO est terminée. Merci pour votre participation ! Les gagnants seront "
    "contactés par SMS.",
    Outcome.CAMPAIGN_NOT_STARTED: "La campagne ROKO n'a pas encore commencé. Gardez votre sac et renvoyez votre code "
    "dès le lancement.",
    Outcome.BLOCKED: "Trop de codes non valides. Votre numéro est bloqué pendant {hours} heures. Vérifiez les codes "
    "sur vos sacs avant de réessayer.",
    Outcome.OPT_OUT: "Vous ne recevrez plus de messages de la campagne ROKO. Vos participations restent valables. "
    "Envoyez ROKO + code pour participer.",
}


def placeholders_in(text: str) -> set[str]:
    """The ``{names}`` a template uses; raises ``InvalidInput`` on broken braces."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise InvalidInput("text", f"Broken placeholder braces: {exc}.") from None


def check_template(key: str, text: str) -> SegmentInfo:
    """Refuse a template that is unknown, empty, uses unknown placeholders, or could
    overflow one SMS once filled with the longest values."""
    if key not in DEFAULT_REPLIES:
        raise InvalidInput("key", f"Unknown reply template {key!r}.")
    if not text.strip():
        raise InvalidInput("text", "The reply must not be empty.")
    unknown = placeholders_in(text) - PLACEHOLDERS.keys()
    if unknown:
        raise UnknownPlaceholder(sorted(unknown))
    info = analyze(text.format_map(WORST_CASE))
    if not info.fits:
        raise TemplateTooLong(info)
    return info


def list_templates() -> list[ReplyTemplate]:
    """One template per outcome, in the order of :data:`DEFAULT_REPLIES`; an outcome
    without a stored row gets an unsaved row holding its built-in default."""
    stored = {row.key: row for row in db.session.scalars(select(ReplyTemplate))}
    return [stored.get(str(key)) or ReplyTemplate(key=str(key), text=text) for key, text in DEFAULT_REPLIES.items()]


def get_template(key: str) -> ReplyTemplate:
    """The template of outcome ``key`` (its built-in default, unsaved, if none is stored)."""
    if key not in DEFAULT_REPLIES:
        raise NotFound(f"Unknown reply template {key!r}.")
    return db.session.get(ReplyTemplate, key) or ReplyTemplate(key=key, text=DEFAULT_REPLIES[key])


def save_template(key: str, text: str, *, updated_by: str) -> ReplyTemplate:
    check_template(key, text)
    row = db.session.get(ReplyTemplate, key) or ReplyTemplate(key=key)
    row.text = text
    row.updated_at = utcnow()
    row.updated_by = updated_by
    db.session.add(row)
    db.session.flush()
    _forget_cached_texts()
    return row


def render(key: str, values: Mapping[str, object], templates: Mapping[str, str] | None = None) -> str:
    """The filled reply for ``key``, guaranteed to fit one SMS."""
    text = (templates or {}).get(key) or _stored_text(key)
    filled = _fill(text, values)
    if filled is None or not analyze(filled).fits:
        log.error("reply template %s does not fit one SMS once filled; sending the built-in default", key)
        filled = _fill(DEFAULT_REPLIES[key], values) or DEFAULT_REPLIES[key]
    return filled


# Stored texts are read once per app every CACHE_SECONDS (replies are on the hot path of
# every inbound SMS); an edit in this process is seen at once, in others within that time.
CACHE_SECONDS = 5.0


def _stored_text(key: str) -> str:
    cache = current_app.extensions.setdefault("roko.reply_templates", {})
    loaded = cache.get("texts")
    if loaded is None or time.monotonic() - cache["at"] > CACHE_SECONDS:
        loaded = {key: text for key, text in db.session.execute(select(ReplyTemplate.key, ReplyTemplate.text))}
        cache.update(texts=loaded, at=time.monotonic())
    return loaded.get(key) or DEFAULT_REPLIES[key]


def _forget_cached_texts() -> None:
    current_app.extensions.pop("roko.reply_templates", None)


def _fill(text: str, values: Mapping[str, object]) -> str | None:
    try:
        return text.format_map({name: values.get(name, "") for name in PLACEHOLDERS})
    except (KeyError, ValueError, IndexError):
        return None
