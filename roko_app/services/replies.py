"""French reply templates: one per outcome, editable, always one SMS once filled.

Templates use ``{placeholders}``: ``{code}`` (the code the farmer sent), ``{chances}``
(their valid entries) and ``{hours}`` (the length of a block). The ``WINNER`` notice of a
lucky draw is edited the same way, with its own placeholders: ``{prize}`` and
``{deadline}`` (the last day to claim it). A template is checked
with the worst-case values when it is saved, and the filled text is checked again
before it is queued; if an edited template ever overflows, the built-in default of that
outcome is sent instead (and the problem logged), so a farmer is never left unanswered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from flask import current_app
from sqlalchemy import select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Outcome, ReplyTemplate
from roko_app.services.errors import InvalidInput, NotFound
from roko_app.sms.encoding import SegmentInfo, analyze
from roko_app.sms.templates import plain_field, read_template

log = logging.getLogger(__name__)


class UnknownPlaceholder(InvalidInput):
    """The template uses ``{names}`` that are not placeholders (``names``, sorted)."""

    def __init__(self, names: list[str], allowed: Mapping[str, str] | None = None) -> None:
        allowed = PLACEHOLDERS if allowed is None else allowed
        super().__init__("text", f"Unknown placeholder(s): {', '.join('{' + u + '}' for u in names)}; "
                                 f"use {', '.join('{' + p + '}' for p in allowed)}.")
        self.names = names
        self.allowed = list(allowed)


class FormattedPlaceholder(InvalidInput):
    """The template gives a field a format spec or a conversion (``{chances:0>60}``,
    ``{code!r}``): placeholders take none (``fields`` as written)."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        super().__init__("text", f"Placeholders take no format or conversion: {', '.join(fields)}; "
                                 f"write {', '.join(plain_field(f) for f in fields)}.")
        self.fields = fields
        self.plain = tuple(dict.fromkeys(plain_field(f) for f in fields))


class BrokenBraces(InvalidInput):
    """A lone ``{`` or ``}`` (``braces``); a brace is written ``{{`` or ``}}``."""

    def __init__(self, braces: tuple[str, ...]) -> None:
        super().__init__("text", f"Broken placeholder braces: a lone {' and a lone '.join(braces)}; "
                                 "write {{ or }} for a brace.")
        self.braces = braces


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
    "Envoyez START pour vous réabonner.",
    Outcome.OPT_IN: "Vous recevez de nouveau les messages de la campagne ROKO. Envoyez ROKO + code pour participer, "
    "ou STOP pour ne plus en recevoir.",
}


# The lucky draw's winner notice (not an answer to an outcome): its own placeholders.
WINNER = "WINNER"
# A prize name goes into the winner's SMS: services.draws refuses longer ones.
PRIZE_NAME_MAX = 40
WINNER_PLACEHOLDERS = {
    "prize": "the prize won (its name, at most 40 characters)",
    "deadline": "the last day to claim the prize (dd/mm/yyyy)",
}
WINNER_WORST_CASE = {"prize": "W" * PRIZE_NAME_MAX, "deadline": "31/12/2026"}
DEFAULT_WINNER = ("ROKO : vous avez gagné {prize} au tirage ! Un agent vous appellera. Gardez le sac et son code. "
                  "Réclamez avant le {deadline}.")
NOTICES = {WINNER: DEFAULT_WINNER}


def placeholders_of(key: str) -> Mapping[str, str]:
    """The placeholders template ``key`` may use, with what each stands for."""
    return WINNER_PLACEHOLDERS if key == WINNER else PLACEHOLDERS


def worst_case_of(key: str) -> Mapping[str, str]:
    """The longest value of each placeholder of template ``key``."""
    return WINNER_WORST_CASE if key == WINNER else WORST_CASE


def default_text(key: str) -> str:
    return NOTICES[key] if key in NOTICES else DEFAULT_REPLIES[key]


def check_template(key: str, text: str) -> SegmentInfo:
    """Refuse a template that is unknown, empty, has a lone brace, gives a placeholder a
    format or conversion, uses unknown placeholders, or could overflow one SMS once
    filled with the longest values (the syntax: :mod:`roko_app.sms.templates`)."""
    if key not in DEFAULT_REPLIES and key not in NOTICES:
        raise InvalidInput("key", f"Unknown reply template {key!r}.")
    if not text.strip():
        raise InvalidInput("text", "The reply must not be empty.")
    reading = read_template(text, worst_case_of(key))
    if reading.broken:
        raise BrokenBraces(reading.broken)
    if reading.formatted:
        raise FormattedPlaceholder(reading.formatted)
    if reading.unknown:
        raise UnknownPlaceholder(sorted(field[1:-1] for field in reading.unknown), placeholders_of(key))
    info = analyze(reading.filled)
    if not info.fits:
        raise TemplateTooLong(info)
    return info


def list_templates() -> list[ReplyTemplate]:
    """One template per outcome, in the order of :data:`DEFAULT_REPLIES`, then the
    notices (WINNER); one without a stored row gets an unsaved row holding its built-in
    default."""
    stored = {row.key: row for row in db.session.scalars(select(ReplyTemplate))}
    defaults = {**{str(key): text for key, text in DEFAULT_REPLIES.items()}, **NOTICES}
    return [stored.get(key) or ReplyTemplate(key=key, text=text) for key, text in defaults.items()]


def get_template(key: str) -> ReplyTemplate:
    """The template of outcome ``key`` (its built-in default, unsaved, if none is stored)."""
    if key not in DEFAULT_REPLIES and key not in NOTICES:
        raise NotFound(f"Unknown reply template {key!r}.")
    return db.session.get(ReplyTemplate, key) or ReplyTemplate(key=key, text=default_text(key))


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
    names = placeholders_of(key)
    filled = _fill(text, values, names)
    if filled is None or not analyze(filled).fits:
        log.error("reply template %s does not fit one SMS once filled; sending the built-in default", key)
        filled = _fill(default_text(key), values, names) or default_text(key)
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
    return loaded.get(key) or default_text(key)


def _forget_cached_texts() -> None:
    current_app.extensions.pop("roko.reply_templates", None)


def _fill(text: str, values: Mapping[str, object], names: Mapping[str, str] = PLACEHOLDERS) -> str | None:
    """The filled text, or None when ``text`` does not follow the template syntax (a
    template stored before a rule was added)."""
    reading = read_template(text, {name: str(values.get(name, "")) for name in names})
    return reading.filled if reading.ok else None
