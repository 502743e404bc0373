"""Sending one text to a pasted list of numbers (the console's compose page).

The list rule: numbers are separated by line breaks, commas or semicolons; spaces
(and dashes, dots, parentheses) *inside* an entry are part of the way the number is
written (``+224 612 34 56 78``) and are removed by :func:`normalize_msisdn`. Blank
entries are ignored, and a number given twice (in any spelling) is sent once.

A send is all or nothing: if any entry is not a Guinea mobile number, or there are too
many, nothing is queued, so an operator never has to work out who already got it.
Numbers that opted out (texted STOP) are named first (:class:`RecipientsOptedOut`);
the operator then confirms sending to the others only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from roko_app.models import OutboundSms, Priority
from roko_app.services.errors import DomainError
from roko_app.services.outbound import OptedOut, check_text, opted_out_among, queue_message
from roko_app.sms.msisdn import InvalidMsisdn, MsisdnProblem, normalize_msisdn

# Distinct numbers one send may reach; more is a campaign, not a console message.
MAX_RECIPIENTS = 500
_SEPARATORS = re.compile(r"[\r\n,;]+")


@dataclass(frozen=True, slots=True)
class BadNumber:
    raw: str  # the entry as typed (stripped)
    problem: MsisdnProblem


@dataclass(frozen=True, slots=True)
class Recipients:
    numbers: tuple[str, ...]  # normalised, distinct, in the order given
    bad: tuple[BadNumber, ...]
    duplicates: int  # entries dropped because the same number came earlier


class RecipientsRefused(DomainError):
    """The list has bad entries, no number, or too many numbers; nothing was queued."""

    code = "RECIPIENTS_REFUSED"

    def __init__(self, recipients: Recipients, limit: int) -> None:
        super().__init__(f"{len(recipients.bad)} bad number(s), {len(recipients.numbers)} good (at most {limit}).")
        self.recipients = recipients
        self.limit = limit


class RecipientsOptedOut(OptedOut):
    """Some numbers of the list opted out (``msisdns``); ``others`` could get the message.
    Nothing was queued."""

    def __init__(self, msisdns: set[str], others: int) -> None:
        super().__init__(msisdns)
        self.others = others


def parse_recipients(raw: str) -> Recipients:
    """Split and normalise a pasted list (see the module docstring)."""
    numbers: dict[str, None] = {}
    bad: list[BadNumber] = []
    duplicates = 0
    for entry in _SEPARATORS.split(raw):
        entry = entry.strip()
        if not entry:
            continue
        try:
            number = normalize_msisdn(entry)
        except InvalidMsisdn as exc:
            bad.append(BadNumber(entry[:64], exc.problem))
            continue
        if number in numbers:
            duplicates += 1
        numbers[number] = None
    return Recipients(tuple(numbers), tuple(bad), duplicates)


def check_recipients(recipients: Recipients, limit: int = MAX_RECIPIENTS) -> None:
    if recipients.bad or not recipients.numbers or len(recipients.numbers) > limit:
        raise RecipientsRefused(recipients, limit)


def queue_to_many(raw_numbers: str, text: str, *, port: int, caller: str | None,
                  limit: int = MAX_RECIPIENTS, skip_opted_out: bool = False) -> list[OutboundSms]:
    """Queue ``text`` once per distinct number of ``raw_numbers`` (flushed, not committed).

    Raises :class:`RecipientsRefused`, or ``EmptyText``/``TextDoesNotFit`` from
    :func:`check_text`, before any row is added; :class:`RecipientsOptedOut` when some
    numbers opted out, unless ``skip_opted_out`` (the operator confirmed: the others
    get it), and always when every number opted out.
    """
    recipients = parse_recipients(raw_numbers)
    check_recipients(recipients, limit)
    check_text(text)
    opted_out = opted_out_among(recipients.numbers)
    others = [number for number in recipients.numbers if number not in opted_out]
    if opted_out and (not skip_opted_out or not others):
        raise RecipientsOptedOut(opted_out, len(others))
    return [queue_message(phone_number=number, text=text, port=port, caller=caller, priority=Priority.API)
            for number in others]
