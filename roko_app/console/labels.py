"""The console's words for what it shows: one label per enum member, problem code,
caller, audit action and detail, in the operator's language (English source strings,
French catalogue). Templates reach them through the filters registered at the end; no
page shows a raw key, and nothing here matches an English sentence except the
machine-written prefixes of ``OutboundSms.last_error`` (see :func:`failure`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import format_date, format_datetime, format_decimal, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from roko_app.console.blueprint import bp
from roko_app.models import CallbackState, OutboundStatus, Outcome
from roko_app.models.accounts import Role
from roko_app.models.lucky_draw import DrawState, PickState
from roko_app.services.code_registry import RowError
from roko_app.services.errors import DomainError

#: The one date-and-time format of the console (Conakry time, which is UTC all year).
MOMENT_FORMAT = "dd/MM/yyyy HH:mm"
DAY_FORMAT = "dd/MM/yyyy"

ROLE_LABELS = {Role.ADMIN: _l("Administrator"), Role.OPERATOR: _l("Operator"), Role.VIEWER: _l("Viewer")}

OUTCOME_LABELS = {
    Outcome.VALID_FIRST: _l("Valid, first"),
    Outcome.VALID_AGAIN: _l("Valid, again"),
    Outcome.DUPLICATE: _l("Duplicate"),
    Outcome.ALREADY_USED: _l("Used by another number"),
    Outcome.INVALID_CODE: _l("Invalid code"),
    Outcome.BAD_FORMAT: _l("Bad format"),
    Outcome.CAMPAIGN_CLOSED: _l("Campaign closed"),
    Outcome.CAMPAIGN_NOT_STARTED: _l("Campaign not started"),
    Outcome.BLOCKED: _l("Blocked"),
    Outcome.OPT_OUT: _l("Opt-out"),
    Outcome.OPT_IN: _l("Opt-in (back after an opt-out)"),
}

#: The reply templates (services.replies): one per outcome, and the winner's notice.
TEMPLATE_LABELS = {
    "VALID_FIRST": _l("First valid code of a number"),
    "VALID_AGAIN": _l("Another valid code of the same number"),
    "DUPLICATE": _l("Code already sent by this number"),
    "ALREADY_USED": _l("Code already used by another number"),
    "INVALID_CODE": _l("Unknown code"),
    "BAD_FORMAT": _l("Message not understood"),
    "CAMPAIGN_CLOSED": _l("Campaign over"),
    "CAMPAIGN_NOT_STARTED": _l("Campaign not started yet"),
    "BLOCKED": _l("Number blocked after too many bad codes"),
    "OPT_OUT": _l("Farmer asked to stop receiving messages"),
    "OPT_IN": _l("Farmer asked to receive messages again (START)"),
    "WINNER": _l("Lucky draw winner (sent when a prize is won)"),
}

STATUS_LABELS = {
    OutboundStatus.QUEUED: _l("Queued"),
    OutboundStatus.SENDING: _l("Sending"),
    OutboundStatus.SENT: _l("Sent"),
    OutboundStatus.FAILED: _l("Failed"),
    OutboundStatus.CANCELLED: _l("Cancelled"),
    OutboundStatus.DELIVERED: _l("Delivered"),
    OutboundStatus.UNDELIVERED: _l("Not delivered"),
    OutboundStatus.EXPIRED: _l("Expired"),
    OutboundStatus.UNREPORTED: _l("No delivery report"),
    OutboundStatus.UNCERTAIN: _l("Unknown, to check"),
}

#: The values of reads.messages.DELIVERY.
DELIVERY_LABELS = {
    "delivered": _l("delivered"),
    "undelivered": _l("not delivered"),
    "unknown": _l("unknown"),
    "pending": _l("awaiting report"),
}

#: What the gateway's delivery reports say (docs/topaz-gateway.md §4).
REPORT_LABELS = {
    "queued": _l("queued at the gateway"),
    "sent": _l("sent by the gateway"),
    "delivered": _l("delivered"),
    "undelivered": _l("not delivered"),
    "expired": _l("expired"),
    "failed": _l("failed"),
    "rejected": _l("refused"),
}

#: The columns of a batch's progress (reads.campaigns.PROGRESS_GROUPS).
GROUP_LABELS = {"sent": _l("Sent"), "failed": _l("Failed"), "cancelled": _l("Cancelled"), "queued": _l("Still queued")}

#: Why a campaign recipient was refused at intake (services.campaigns).
REJECTION_LABELS = {
    "INVALID_NUMBER": _l("Invalid number"),
    "MISSING_MESSAGE": _l("No message text"),
    "EMPTY_MESSAGE": _l("Empty message"),
    "TEXT_TOO_LONG": _l("Longer than one SMS"),
    "UNRESOLVED_HASH": _l("Personalisation not filled in"),
    "OPTED_OUT": _l("The number opted out (STOP)"),
}

#: What is wrong with a phone number (sms.msisdn.MsisdnProblem; "missing": none was given).
NUMBER_PROBLEMS = {
    "missing": _l("no number given"),
    "empty": _l("no digits"),
    "not_digits": _l("contains characters other than digits"),
    "not_guinea": _l("not a Guinea number (+224)"),
    "wrong_length": _l("a Guinea mobile number has 9 digits"),
    "not_mobile": _l("a Guinea mobile number starts with 6"),
}

CALLBACK_STATE_LABELS = {CallbackState.DEAD: _l("Refused"), CallbackState.PENDING: _l("Waiting"),
                         CallbackState.SENT: _l("Sent"), CallbackState.SUPERSEDED: _l("Replaced by a later call")}
CALLBACK_KIND_LABELS = {"delivery-report": _l("Delivery report"), "incoming-message": _l("Farmer's reply"),
                        "handshake": _l("Handshake")}

DRAW_STATE_LABELS = {DrawState.OPEN: _l("Open"), DrawState.CLOSED: _l("Closed, waiting for the beacon"),
                     DrawState.RUN: _l("Drawn")}
PICK_STATE_LABELS = {PickState.RESERVE: _l("in reserve"), PickState.NOTIFIED: _l("notified, to claim"),
                     PickState.CLAIMED: _l("handed over"), PickState.FORFEITED: _l("forfeited")}
DRAW_EVENT_LABELS = {"created": _l("created"), "closed": _l("closed"), "run": _l("drawn"),
                     "notified": _l("SMS queued"), "claimed": _l("prize handed over"),
                     "forfeited": _l("prize forfeited"), "promoted": _l("alternate promoted")}

#: Where a draw's randomness comes from (services.draws.parse_beacon).
BEACON_SOURCE_LABELS = {"drand-quicknet": _l("drand quicknet"), "drand-mainnet": _l("drand mainnet"),
                        "manual": _l("a public value announced in advance")}

#: The fields of an inbound SMS the gateway may send again with another value.
SMS_FIELD_LABELS = {"text": _l("text"), "sender": _l("sender"), "gateway_timestamp": _l("gateway time"),
                    "port": _l("SIM port"), "gateway_sms_id": _l("gateway id")}

#: The filters of the console's lists (named when an invalid value is ignored).
FILTER_LABELS = {"actor": _l("Who"), "action": _l("Action"), "outcome": _l("Outcome"), "from": _l("From"),
                 "to": _l("To"), "phone": _l("Phone number"), "code": _l("Code"), "limit": _l("Rows per page"),
                 "status": _l("Status"), "state": _l("Status"), "text": _l("Text")}

#: The problems services raise (DomainError.problem), with their parameters.
PROBLEM_LABELS = {
    "CODES_BATCH_NAME": _l("A batch name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
                           "a digit."),
    "CODES_FILE_NOT_TEXT": _l("the file is not text in the chosen encoding: choose the other encoding, or save the "
                              "file again as CSV UTF-8."),
    "CODES_FILE_EMPTY": _l("the file is empty: its first line must name the columns, one of them '%(code)s'."),
    "CODES_DUPLICATE_COLUMNS": _l("the first line names these columns more than once: %(columns)s."),
    "CODES_NO_CODE_COLUMN": _l("the first line has no '%(code)s' column (columns read: %(columns)s)."),
    "CODES_NOT_CSV": _l("the file cannot be read as CSV near line %(line)s."),
    "DRAW_OUT_OF_ORDER": _l("This step does not fit the draw's state or the time."),
    "BEACON_REFUSED": _l("The beacon was refused."),
    "NO_ELIGIBLE_ENTRIES": _l("No eligible entry: there is nothing to close."),
    "VALIDATION_ERROR": _l("A value is not acceptable."),
    "NOT_FOUND": _l("Not found."),
    # the draws (services.draws): creating one
    "DRAW_NAME_MISSING": _l("The draw needs a name."),
    "DRAW_WINDOW_NO_TIME_ZONE": _l("The entry window needs a time zone."),
    "DRAW_WINDOW_ORDER": _l("The end of the entry window (%(window_until)s) must come after its start "
                            "(%(window_from)s)."),
    "DRAW_NO_PRIZE": _l("A draw needs at least one prize."),
    "DRAW_PRIZE_FORMAT": _l("A prize is written NAME:COUNT with a count of at least 1 (for example Tricycle:2), "
                            "not %(value)s."),
    "DRAW_PRIZE_COUNT": _l("A prize needs a name and a count of 1 to %(max)s (%(name)s: %(count)s)."),
    "DRAW_NAME_TOO_LONG": _l("A draw's name has at most %(max)s characters."),
    "DRAW_BEACON_DESCRIPTION_TOO_LONG": _l("A public value's description has at most %(max)s characters."),
    "DRAW_WINDOW_OVER": _l("The entry window ended on %(window_until)s: a draw whose randomness is a public value is "
                           "created before its window ends."),
    "DRAW_PRIZE_NAME_TOO_LONG": _l("A prize name has at most %(max)s characters (it goes into the winner's SMS): "
                                   "%(name)s is too long."),
    "DRAW_ALTERNATES_NEGATIVE": _l("The number of alternates cannot be negative (%(count)s)."),
    "DRAW_BEACON_DESCRIPTION_MISSING": _l("A public value needs a description: what it will be and where it is "
                                          "published."),
    "DRAW_BEACON_UNKNOWN_SOURCE": _l("Unknown randomness source %(value)s: choose drand quicknet, drand mainnet or "
                                     "a public value."),
    "DRAW_BEACON_BAD_ROUND": _l("The drand round must be a whole number of at least 1, not %(value)s."),
    "DRAW_ROUND_BEFORE_WINDOW_END": _l("drand round %(round)s is published on %(published_at)s, before the entry "
                                       "window ends (%(window_until)s): choose a later round."),
    "DRAW_ROUND_ALREADY_PUBLISHED": _l("drand round %(round)s was already published on %(published_at)s: choose a "
                                       "round to come."),
    "DRAW_EXCLUSIONS_NO_MSISDN_COLUMN": _l("The list of numbers left out needs a '%(column)s' column."),
    "DRAW_EXCLUSIONS_BAD_NUMBER": _l("Numbers left out, line %(line)s: %(value)s is not a Guinea mobile number."),
    # ... and taking it through its life
    "DRAW_NOT_FOUND": _l("There is no draw %(draw_id)s."),
    "DRAW_ALREADY_CLOSED": _l("Draw %(draw_id)s is already closed."),
    "DRAW_CLOSE_BEFORE_WINDOW_END": _l("Draw %(draw_id)s takes entries until %(window_until)s: close it after "
                                       "that."),
    "DRAW_NO_ELIGIBLE_ENTRIES": _l("Draw %(draw_id)s has no eligible entry: there is nothing to close."),
    "DRAW_UNCLASSIFIED_SMS": _l("Draw %(draw_id)s: %(count)s SMS received in the entry window are not classified yet "
                                "(the worker's backlog, or SMS to review in the inbox). Close the draw once they "
                                "are, so that none of them is left out."),
    "DRAW_VALUE_TOO_LONG": _l("A public value has at most %(max)s characters."),
    "DRAW_NOT_CLOSED": _l("Draw %(draw_id)s is not closed yet: close it first."),
    "DRAW_ALREADY_RUN": _l("Draw %(draw_id)s has already been run; a draw runs once."),
    "DRAW_BEACON_FETCH_FAILED": _l("drand round %(round)s could not be fetched (%(error)s). Open %(url)s where it "
                                   "can be reached and paste the round's signature."),
    "DRAW_BEACON_NO_RELAY": _l("drand round %(round)s could not be fetched: no drand relay is configured. Paste "
                               "the round's signature."),
    "DRAW_MANUAL_VALUE_NEEDED": _l("This draw's randomness is a public value: give it exactly as published, and "
                                   "no signature."),
    "DRAW_SIGNATURE_NEEDED": _l("This draw's randomness is round %(round)s of %(source)s: give its signature, and "
                                "no public value."),
    "DRAW_ROUND_BEFORE_CLOSE": _l("drand round %(round)s was published on %(published_at)s, before the draw closed "
                                  "(%(closed_at)s): it cannot be used."),
    "DRAW_SIGNATURE_INVALID": _l("The drand signature does not verify: %(error)s."),
    "DRAW_ENTRIES_ALTERED": _l("Draw %(draw_id)s: the stored entry list does not match its published hash; the "
                               "draw cannot run."),
    "DRAW_NOT_RUN": _l("Draw %(draw_id)s has not been run yet."),
    "DRAW_BUNDLE_NOT_RUN": _l("Draw %(draw_id)s has not been run yet: there is nothing to check."),
    "DRAW_NO_SUCH_PRIZE": _l("Entry %(entry_id)s holds no prize in draw %(draw_id)s."),
    "DRAW_PRIZE_SETTLED": _l("The prize of entry %(entry_id)s is already %(state)s."),
    "DRAW_CLAIM_TOO_LATE": _l("The prize of entry %(entry_id)s had to be claimed by %(deadline)s: it is forfeited."),
    "DRAW_FORFEIT_REASON_MISSING": _l("Say why the prize is forfeited."),
}
#: Parameters of a problem that are data as the person typed it or as another system
#: said it (a prize name, a relay's error): quoted, never translated.
QUOTED_PARAMS = frozenset({"value", "name", "error", "url"})
#: A bad row of a codes import (services.code_registry.ROW_PROBLEMS).
ROW_PROBLEM_LABELS = {
    "FIELD_COUNT": _l("expected %(expected)s fields, found %(found)s"),
    "OTHER_BATCH": _l("the batch column names another batch (%(named)s)"),
    "EMPTY_CODE": _l("empty code"),
    "MALFORMED_CODE": _l("malformed code: expected U followed by 8 digits"),
    "DUPLICATE_IN_FILE": _l("duplicate: the same code is on an earlier line of this file"),
}

AUDIT_ACTION_LABELS = {
    "login": _l("Logged in"),
    "logout": _l("Logged out"),
    "login.failed": _l("Failed log-in"),
    "login.lock": _l("Log-ins locked"),
    "user.create": _l("Account created"),
    "user.role": _l("Role changed"),
    "user.deactivate": _l("Account deactivated"),
    "user.reactivate": _l("Account reactivated"),
    "user.password_change": _l("Own password changed"),
    "user.password_reset": _l("Password reset"),
    "user.unlock": _l("Account unlocked"),
    "api_key.create": _l("API key created"),
    "api_key.revoke": _l("API key revoked"),
    "sms.send": _l("SMS sent from the console"),
    "sms.requeue": _l("Message queued again"),
    "sms.classify_retry": _l("SMS sent back to the worker"),
    "participant.unblock": _l("Number unblocked"),
    "campaign.cancel": _l("Campaign messages cancelled"),
    "codes.import": _l("Codes imported"),
    "entries.export": _l("Entries exported"),
    "template.edit": _l("Reply edited"),
    "optimove.retry": _l("Call to Optimove sent again"),
    "draw.create": _l("Draw created"),
    "draw.close": _l("Draw closed"),
    "draw.run": _l("Draw run"),
    "draw.export": _l("Draw bundle downloaded"),
    "draw.claim": _l("Prize handed over"),
    "draw.forfeit": _l("Prize forfeited"),
}
#: The families of actions (the audit filter's ``sms.`` and the like).
AUDIT_FAMILY_LABELS = {"login.": _l("Log-ins"), "user.": _l("Accounts"), "api_key.": _l("API keys"),
                       "sms.": _l("SMS"), "participant.": _l("Farmers"), "campaign.": _l("Campaigns"),
                       "codes.": _l("Codes"), "entries.": _l("Entries"), "template.": _l("Replies"),
                       "optimove.": _l("Optimove"), "draw.": _l("Draws")}

# The details of audit events and draw events: counts (singular, plural), then values.
_COUNTED: dict[str, Callable[[int], str]] = {
    "already_present": lambda n: ngettext("%(num)d code already registered", "%(num)d codes already registered", n),
    "bad": lambda n: ngettext("%(num)d bad row", "%(num)d bad rows", n),
    "rows": lambda n: ngettext("%(num)d row read", "%(num)d rows read", n),
    "inserted": lambda n: ngettext("%(num)d new code", "%(num)d new codes", n),
    "cancelled": lambda n: ngettext("%(num)d message cancelled", "%(num)d messages cancelled", n),
    "forgotten_failures": lambda n: ngettext("%(num)d failed log-in forgotten", "%(num)d failed log-ins forgotten", n),
    "count": lambda n: ngettext("%(num)d message", "%(num)d messages", n),
    "units": lambda n: ngettext("%(num)d unit", "%(num)d units", n),
    "opted_out_skipped": lambda n: ngettext("%(num)d opted-out number left out", "%(num)d opted-out numbers left out", n),
    "exclusions": lambda n: ngettext("%(num)d number left out", "%(num)d numbers left out", n),
    "excluded": lambda n: ngettext("%(num)d participant left out", "%(num)d participants left out", n),
    "entries": lambda n: ngettext("%(num)d entry", "%(num)d entries", n),
    "participants": lambda n: ngettext("%(num)d participant", "%(num)d participants", n),
    "winners": lambda n: ngettext("%(num)d winner", "%(num)d winners", n),
    "alternates": lambda n: ngettext("%(num)d alternate", "%(num)d alternates", n),
    "unawarded": lambda n: ngettext("%(num)d prize not awarded", "%(num)d prizes not awarded", n),
}
_VALUED = {
    "file": _l("file %(value)s"),
    "prefix": _l("key starting %(value)s…"),
    "encoding": _l("encoding %(value)s"),
    "first_id": _l("first message %(value)s"),
    "last_id": _l("last message %(value)s"),
    "phone": _l("number %(value)s"),
    "code": _l("code %(value)s"),
    "text": _l("text containing “%(value)s”"),
    "reason": _l("reason: %(value)s"),
    "entry_id": _l("entry %(value)s"),
    "replaces_entry_id": _l("replaces entry %(value)s"),
    "tier": _l("prize tier %(value)s"),
    "alternate_rank": _l("alternate rank %(value)s"),
    "outbound_sms_id": _l("message %(value)s"),
    "commitment": _l("commitment %(value)s"),
    "round": _l("round %(value)s"),
    "description": _l("announced value: %(value)s"),
    "entries_sha256": _l("SHA-256 of the list %(value)s"),
    "randomness": _l("randomness %(value)s"),
    "role": _l("role %(value)s"),
}
_LOCK_SCOPES = {"account": _l("this account"), "address": _l("this address"),
                "account+address": _l("this account from this address")}


def label(table: Mapping[Any, Any], key: Any) -> str:
    """``key``'s label in ``table``, else ``key`` itself (never None)."""
    found = table.get(key) if key is not None else None
    return str(found) if found is not None else ("" if key is None else str(key))


def problem_text(error: DomainError) -> str:
    """A service's refusal in the console's words (its problem code and parameters):
    times in the one format, states and sources by their labels; when a parameter is
    quoted data (:data:`QUOTED_PARAMS`) the result is Markup with it in
    ``<q translate="no">``."""
    found = PROBLEM_LABELS.get(error.problem) or PROBLEM_LABELS.get(error.code)
    if found is None:
        return _("Refused.")
    values = {key: _problem_param(key, value) for key, value in {"code": "code", **error.params}.items()}
    if any(isinstance(value, Markup) for value in values.values()):
        return escape(str(found)) % values
    return str(found) % values


def _problem_param(key: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return moment(value)
    if key == "state":
        return label(PICK_STATE_LABELS, value)
    if key == "source":
        return label(BEACON_SOURCE_LABELS, value)
    if key in QUOTED_PARAMS:
        return Markup('<q translate="no">{}</q>').format(value)
    return value


def row_problem(row: RowError) -> str:
    found = ROW_PROBLEM_LABELS.get(row.code)
    return str(found) % row.params if found is not None else row.problem


def rejection_detail(reason: str, params: Mapping[str, Any] | None) -> str | None:
    """Why a campaign recipient was refused, in the console's words, from the parameters
    stored with the refusal; ``None`` when there are none (rows stored before they were,
    whose English detail is shown as logged)."""
    if not params:
        return None
    if reason == "INVALID_NUMBER" and params.get("problem") in NUMBER_PROBLEMS:
        return str(NUMBER_PROBLEMS[params["problem"]])
    if reason == "TEXT_TOO_LONG" and {"units", "encoding", "limit"} <= params.keys():
        return _("%(units)s characters in %(encoding)s, at most %(limit)s",
                 units=params["units"], encoding=params["encoding"], limit=params["limit"])
    return None


def role_label(role: str | None) -> str:
    return label(ROLE_LABELS, role)


def caller_label(caller: str | None) -> str:
    """Who asked for a message: the auto-reply, a campaign, a draw, an operator (their
    e-mail) or an API key (its name)."""
    if not caller:
        return ""
    if caller == "auto-reply":
        return _("Automatic reply")
    if caller == "optimove":
        return _("Optimove campaign")
    if caller.startswith("draw:"):
        return _("Draw %(id)s", id=caller.removeprefix("draw:"))
    if "@" in caller:
        return caller
    return _("API key %(name)s", name=caller)


# --- why a message failed -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Failure:
    """A message's last error: the console's sentence, and what the gateway said, quoted
    as it came (None when nothing was quoted)."""

    text: str
    quoted: str | None = None


# The forms services.outbound and services.campaigns write into OutboundSms.last_error.
_REJECTED = re.compile(r"rejected by the gateway: (?P<reason>.*)", re.S)
_TRANSIENT = re.compile(r"transient: (?P<reason>.*)", re.S)
_GAVE_UP = re.compile(r"gave up after (?P<attempts>\d+) attempts: (?P<reason>.*?)"
                      r"(?P<unknown>; the gateway has no record of it)?"
                      r"(?:; an earlier attempt may have gone out and the gateway could not be asked \((?P<check>.*)\))?",
                      re.S)
_CANCELLED_BY = re.compile(r"cancelled by (?P<who>.*)", re.S)
_REQUEUED = "re-queued: the gateway has no record of it (status query)"
_CODES = {"CANCELLED_OPTED_OUT": _l("Cancelled: the number opted out (STOP) before the message went out.")}


def failure(last_error: str | None) -> Failure | None:
    """``last_error`` in the console's words."""
    if not last_error:
        return None
    if last_error in _CODES:
        return Failure(str(_CODES[last_error]))
    if match := _REJECTED.fullmatch(last_error):
        return Failure(_("Refused by the gateway"), match["reason"])
    if match := _TRANSIENT.fullmatch(last_error):
        return Failure(_("Not sent yet, it will be tried again"), match["reason"])
    if match := _GAVE_UP.fullmatch(last_error):
        text = ngettext("Given up after %(num)d attempt", "Given up after %(num)d attempts", int(match["attempts"]))
        if match["unknown"]:
            text += " " + _("(the gateway has no record of it)")
        if match["check"] is not None:
            text += " " + _("(an earlier attempt may have gone out, and the gateway could not be asked)")
        return Failure(text, match["reason"])
    if match := _CANCELLED_BY.fullmatch(last_error):
        return Failure(_("Cancelled by %(who)s", who=match["who"]))
    if last_error == _REQUEUED:
        return Failure(_("Queued again: the gateway had no record of it"))
    return Failure(_("Error"), last_error)


# --- audit events and draw events -------------------------------------------------------------

def detail_text(key: str, value: Any) -> str:
    """One detail of an audit or draw event as words."""
    if key in _COUNTED and isinstance(value, int) and not isinstance(value, bool):
        return _COUNTED[key](value)
    if key == "role":
        return _("role %(value)s", value=role_label(value))
    if key == "source":
        return _("randomness source %(value)s", value=label(BEACON_SOURCE_LABELS, value))
    if key == "outcome":
        return label(OUTCOME_LABELS, value)
    if key == "claim_deadline" or key == "until":
        return _("until %(time)s", time=moment(value))
    if key == "scope":
        return _("locked: %(scope)s", scope=label(_LOCK_SCOPES, value))
    if key == "account" and value == "unknown":
        return _("unknown account")
    if key in _VALUED:
        return str(_VALUED[key]) % {"value": value}
    return _("%(name)s: %(value)s", name=key.replace("_", " "), value=value)


def details_text(action: str, details: Mapping[str, Any] | None) -> str:
    """An event's details as one sentence: ``already_present=4, bad=3`` becomes
    "4 codes déjà enregistrés, 3 lignes refusées"."""
    if not details:
        return ""
    values = {key: value for key, value in details.items() if value is not None and value != ""}
    parts: list[str] = []
    if action == "user.role" and "from" in values and "to" in values:
        parts.append(_("from %(before)s to %(after)s", before=role_label(values.pop("from")),
                       after=role_label(values.pop("to"))))
    elif "from" in values or "to" in values:  # a list's filters: days
        since, until = values.pop("from", None), values.pop("to", None)
        if since:
            parts.append(_("from %(day)s", day=day(since)))
        if until:
            parts.append(_("to %(day)s", day=day(until)))
    parts.extend(detail_text(key, value) for key, value in sorted(values.items()))
    return ", ".join(parts)


def audit_action_label(action: str | None) -> str:
    if action in AUDIT_FAMILY_LABELS:
        return _("%(family)s (all)", family=AUDIT_FAMILY_LABELS[action])
    return label(AUDIT_ACTION_LABELS, action)


# --- numbers and times ---------------------------------------------------------------------------

def moment(value: datetime | str | None) -> str:
    """A date and time in the console's one format, in Conakry time."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return format_datetime(value, MOMENT_FORMAT)


def day(value: date | str | None) -> str:
    """A day in the console's one format."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return value
    return format_date(value, DAY_FORMAT)


def percent(value: float | int | None) -> str:
    """``16,7 %`` (French: a comma, and a space before the sign)."""
    if value is None:
        return "–"
    return _("%(value)s %%", value=format_decimal(value, "#,##0.#"))


# --- the filters the templates use -----------------------------------------------------------------

FILTERS: dict[str, Callable[..., Any]] = {
    "role_label": role_label,
    "outcome_label": lambda value: label(OUTCOME_LABELS, value),
    "template_label": lambda value: label(TEMPLATE_LABELS, value),
    "status_label": lambda value: label(STATUS_LABELS, value),
    "delivery_label": lambda value: label(DELIVERY_LABELS, value) if value else "",
    "report_label": lambda value: label(REPORT_LABELS, value),
    "group_label": lambda value: label(GROUP_LABELS, value),
    "row_problem": row_problem,
    "rejection_label": lambda value: label(REJECTION_LABELS, value),
    "rejection_detail": lambda rejection: rejection_detail(rejection.reason, rejection.params),
    "callback_state_label": lambda value: label(CALLBACK_STATE_LABELS, value),
    "callback_kind_label": lambda value: label(CALLBACK_KIND_LABELS, value),
    "draw_state_label": lambda value: label(DRAW_STATE_LABELS, value),
    "pick_state_label": lambda value: label(PICK_STATE_LABELS, value),
    "draw_event_label": lambda value: label(DRAW_EVENT_LABELS, value),
    "beacon_source_label": lambda value: label(BEACON_SOURCE_LABELS, value),
    "sms_field_label": lambda value: label(SMS_FIELD_LABELS, value),
    "audit_action_label": audit_action_label,
    "caller_label": caller_label,
    "details_text": lambda details, action="": details_text(action, details),
    "moment": moment,
    "day": day,
    "percent": percent,
}


@bp.app_template_global("file_name")
def file_name(name: str) -> Markup:
    """A file name, command or column name the reader types as it is (not translated)."""
    return Markup('<code translate="no">{}</code>').format(name)


@bp.app_template_global("failure")
def failure_html(last_error: str | None) -> Markup:
    """A message's last error: the sentence, then the gateway's words quoted as they came
    (``translate="no"``: data, not the console's words)."""
    found = failure(last_error)
    if found is None:
        return Markup("")
    if found.quoted is None:
        return escape(found.text)
    quoted = Markup('<q translate="no">{}</q>').format(found.quoted)
    return escape(_("%(text)s: %(quoted)s")) % {"text": found.text, "quoted": quoted}


@bp.record_once
def _register_filters(state: Any) -> None:
    state.app.jinja_env.filters.update(FILTERS)
