"""Issue 13, part 3: no English on any console page in French mode.

Every GET page of the console (and the log-in page and the error pages) is fetched as
admin, operator and viewer over rows that fill every list and detail, its visible text
is extracted (tags, scripts and styles stripped; titles, labels, placeholders and button
values kept) and any English word, raw key (``VALID_FIRST``, ``sms.requeue``,
``already_present=4``) fails the test. Text quoted as received (a farmer's SMS, the
gateway's or Optimove's answer, an exception's name) is marked ``translate="no"`` in the
templates and left out: it is data, not the console's words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import InboundSms, OptimoveCallback, OutboundStatus, Outcome, Participant
from roko_app.services import accounts
from tests.factories import (
    T0,
    add_audit_event,
    add_batch,
    add_draw,
    add_entry,
    add_outbound,
    issue_key,
    register_codes,
)
from tests.helpers import text_in

# English words that never appear in French console text (matched as whole words, any case).
ENGLISH = frozenset("""the and of to is are was were be been by with without not no yes from this that these those which who what
when where why how will would can cannot could should has have had it its you your we our they their there
here only also still yet per day days week hour hours seconds today yesterday ago about after before between
first again none any some every each other new show hide view close run claim forfeit forfeited notified
winner winners prize prizes alternate alternates phone number numbers text details already bad outcome
forbidden operator operators viewer viewers admin administrator unauthorized error errors found method allowed
request requests too many server internal expired token missing required field please try later retry unlock
unlocked locked revoke revoked active inactive deactivate deactivated enabled disabled rows row column header
upload download loading refresh updated figures rate delivery report reports attempts attempt transient gave
up out off over under into than then because since until while just now never always left right top bottom
search filter filters next previous newer older newest oldest save delete edit create created update cancel
cancelled canceled confirm submit back home login logout log sign failed queued sending sent delivered
undelivered pending unknown valid invalid duplicate blocked rejected accepted reply replies gateway simulated
rejection requeue requeued replay replayed replays caller template templates batch batches campaign campaigns
dashboard inbox review compose send user users password key keys role status reason beacon bundle draw draws
entry entries all more last if in for at do done bag bags opted manual""".split())  # noqa: SIM905 (a word list reads better as text)
# Proper nouns and technical terms that French text uses as they are.
ALLOWED = {"roko", "optimove", "topaz", "sms", "gsm", "ucs", "drand", "api", "csv", "url", "e-mail", "english",
           "quicknet", "mainnet", "utc", "http", "json", "sha", "csrf", "sim", "utf", "windows", "excel", "mo"}
RAW_KEYS = [
    re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"),  # VALID_FIRST, OPT_OUT
    re.compile(r"\b[a-z]+(?:_[a-z]+)+\b"),  # already_present, forgotten_failures
    re.compile(r"\b[a-z]+\.[a-z_]+\b"),  # sms.requeue, user.create
    re.compile(r"\b[a-z_]+=\S"),  # bad=3
]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
URL = re.compile(r"https?://\S+")
WORD = re.compile(r"(?<!\w)[^\W\d_]+(?!\w)")  # letters only: not a hex digest's "be39d8"
# Technical terms written as they are, taken out before the words are looked at.
TECHNICAL = re.compile(r"(?<![\w-])(?:x-api-key|e-mail|GSM-7|UCS-2|SHA-256|UTF-8)(?![\w-])", re.I)
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "data-label")
BUTTON_TYPES = ("submit", "button", "reset")
SKIPPED_TAGS = ("script", "style", "template")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class VisibleText(HTMLParser):
    """The text a person sees or hears on a page, less what is quoted as received."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: list[str] = []  # the tag that opened each skipped region, innermost last

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self._skipping:
            if tag == self._skipping[-1] and tag not in VOID:
                self._skipping.append(tag)
            return
        if tag in SKIPPED_TAGS or values.get("translate") == "no":
            if tag not in VOID:
                self._skipping.append(tag)
            return
        self.parts.extend(values[name] or "" for name in SHOWN_ATTRIBUTES if values.get(name))
        if tag == "input" and (values.get("type") or "") in BUTTON_TYPES and values.get("value"):
            self.parts.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping and tag == self._skipping[-1]:
            self._skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return "\n".join(part.strip() for part in parser.parts if part.strip())


def leaks(text: str) -> list[str]:
    """The English words and raw keys of ``text``."""
    text = TECHNICAL.sub(" ", URL.sub(" ", EMAIL.sub(" ", text)))
    found = [match.group(0) for pattern in RAW_KEYS for match in pattern.finditer(text)]
    found += [word for word in WORD.findall(text) if word.lower() in ENGLISH and word.lower() not in ALLOWED]
    return found


# --------------------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(("html", "expected"), [
    ("<p>Envoyé par l'opérateur</p>", []),
    ("<p>operator</p>", ["operator"]),
    ("<span>admin@roko.test · Opérateur</span>", []),
    ("<td>VALID_FIRST</td>", ["VALID_FIRST"]),
    ("<td>be39d812be79f863 · the</td>", ["the"]),
    ("<p>l'en-tête x-api-key, un e-mail, key</p>", ["key"]),
    ("<td><code>sms.requeue</code></td>", ["sms.requeue", "requeue"]),
    ("<td>already_present=4, bad=3</td>", ["already_present", "already_present=4", "bad=3", "bad"]),
    ('<a title="Next page" href="/x">›</a>', ["Next"]),
    ('<input type="submit" value="Save">', ["Save"]),
    ('<input type="text" value="Save">', []),
    ('<td data-label="Status">x</td>', ["Status"]),
    ("<script>var the = 1;</script><style>.the {}</style>", []),
    ('<blockquote translate="no">the farmer wrote <b>this</b></blockquote><p>Échec</p>', []),
    ('<div translate="no"><div>quoted</div> still quoted: the</div><p>the</p>', ["the"]),
    ("<p>ROKO, Optimove, Topaz, SMS, GSM-7, UCS-2, drand, API, CSV, URL, e-mail</p>", []),
])
def test_the_checker_finds_english_words_and_raw_keys(html: str, expected: list[str]) -> None:
    assert sorted(leaks(visible_text(html))) == sorted(expected)


# --------------------------------------------------------------------------- the rows the pages show


@pytest.fixture
def seeded(console_app: Any, simulator: Any) -> dict[str, Any]:
    """Rows in every state the console shows: entries of every outcome, messages of every
    status, a campaign, draws in their three states, audit events, calls to Optimove,
    a parked SMS, a replay, an opted-out and a blocked farmer, an API key."""
    app = console_app
    register_codes(app, "U10000001", "U10000002", "U10000003")
    text_in(app, "ROKO U10000001", "612345678")
    text_in(app, "ROKO U10000002", "612345678")
    text_in(app, "ROKO U99999999", "622334455")
    text_in(app, "STOP", "633445566")
    kept = text_in(app, "ROKO U10000003", "644556677", gateway_sms_id=9001, classify=False)
    text_in(app, "ROKO U10000009", "644556677", gateway_sms_id=9001, classify=False)
    draw_id_open, _ = add_draw(app, "OPEN")
    draw_id_closed, _ = add_draw(app, "CLOSED")
    draw_id_run, _ = add_draw(app, "RUN")
    key = "suivi-stocks"
    issue_key(app, key)
    with app.app_context():
        now = utcnow()
        for index, outcome in enumerate(Outcome):
            add_entry(f"6550000{index:02d}", outcome.value, T0 + timedelta(minutes=index),
                      code=f"U200000{index:02d}" if outcome.value.startswith("VALID") else None)
        errors = {"FAILED": "rejected by the gateway: simulated rejection",
                  "CANCELLED": "cancelled by operator@roko.test", "QUEUED": "transient: connection error: refused",
                  "UNCERTAIN": "gave up after 5 attempts: timeout; an earlier attempt may have gone out"}
        outbound = {}
        for index, status in enumerate(OutboundStatus):
            message = add_outbound("612345678", f"Message {status.value.lower()}", T0 + timedelta(minutes=index),
                                   status=status.value, last_error=errors.get(status.value))
            outbound[status.value] = message.id
        participant = db.session.scalars(select(Participant).where(Participant.msisdn == "612345678")).one()
        participant.blocked_until = now + timedelta(hours=3)
        batch = add_batch(T0, "promo-juin", accepted=3, rejected=1)
        for status in ("QUEUED", "SENT", "FAILED", "CANCELLED"):
            message = add_outbound("622334455", "Promo ROKO", T0, status=status, last_error=errors.get(status))
            message.campaign_batch_id = batch.id
            message.caller = "optimove"
        for action, details in [("sms.requeue", None), ("codes.import", {"already_present": 4, "bad": 3, "rows": 9}),
                                ("user.create", {"role": "viewer"}), ("user.role", {"from": "viewer", "to": "admin"}),
                                ("campaign.cancel", {"cancelled": 3}), ("login.failed", {"account": "unknown"}),
                                ("user.unlock", {"forgotten_failures": 2}), ("entries.export", {"outcome": "VALID_FIRST"}),
                                ("template.edit", {"encoding": "GSM-7", "units": 120}), ("api_key.create", {"prefix": "abcd"})]:
            event = add_audit_event(T0, action, "612345678", actor="admin@roko.test")
            event.details = details
        for minute, state in enumerate(("DEAD", "PENDING", "SENT")):
            db.session.add(OptimoveCallback(kind="delivery-report", idempotency_key=f"dlr:{minute}:DELIVERED",
                                            body='{"type":{}}', state=state, attempts=1, next_attempt_at=T0,
                                            last_status=422 if state == "DEAD" else None,
                                            last_error="HTTP 422: bad metadata" if state == "DEAD" else None,
                                            created_at=T0 + timedelta(minutes=minute)))
        db.session.add(InboundSms(gateway_sms_id=8001, port=17, sender="612345678", sender_msisdn="612345678",
                                  text="ROKO texte", gateway_timestamp=T0, received_at=T0, source="topaz",
                                  classify_attempts=3, classify_error="RuntimeError: a bug in the rules",
                                  parked_at=T0))
        accounts.audit("admin@roko.test", "sms.send", "612345678")
        db.session.commit()
        batch_id = batch.id
    return {"draws": [draw_id_open, draw_id_closed, draw_id_run], "key": key, "batch": batch_id,
            "outbound": outbound, "kept": kept}


def console_urls(seeded: dict[str, Any]) -> list[str]:
    """One URL (or more, for the lists' variants) per GET page of the console."""
    urls = ["/console/", "/console/account/password", "/console/admin/api-keys",
            f"/console/admin/api-keys/{seeded['key']}/revoke", "/console/admin/audit",
            "/console/admin/audit?action=sms.&from=2026-06-01&limit=nope", "/console/admin/users",
            "/console/admin/users/2/deactivate", "/console/admin/users/2/reset-password", "/console/campaigns",
            f"/console/campaigns/{seeded['batch']}", f"/console/campaigns/{seeded['batch']}/cancel",
            "/console/codes", "/console/compose", "/console/draws", "/console/draws/new",
            "/console/entries", "/console/entries?outcome=VALID_FIRST&from=bad", "/console/farmers/612345678",
            "/console/farmers/633445566", "/console/farmers/612345678/unblock", "/console/inbox",
            "/console/messages", "/console/messages?dir=out", "/console/messages?dir=out&status=FAILED",
            "/console/messages/replays", f"/console/messages/replays?sms={seeded['kept']}",
            "/console/optimove", "/console/replies", "/console/replies/VALID_FIRST"]
    urls += [f"/console/draws/{draw_id}" for draw_id in seeded["draws"]]
    urls += [f"/console/messages/out/{message_id}" for message_id in seeded["outbound"].values()]
    return urls


# Pages that are files, not HTML.
NOT_HTML = {"console.entries_csv", "console.draw_bundle"}


def page_leaks(client: Any, url: str, method: str = "GET", **options: Any) -> Iterator[str]:
    response = client.open(url, method=method, **options)
    assert response.status_code < 500, url
    if response.status_code in (301, 302, 303):
        return
    assert response.mimetype == "text/html", url
    for line in visible_text(response.get_data(as_text=True)).splitlines():
        for word in leaks(line):
            yield f"{url} [{response.status_code}]: {word} in {line[:160]!r}"


def test_every_console_page_is_walked(console_app: Any, seeded: dict[str, Any]) -> None:
    adapter = console_app.url_map.bind("localhost")
    walked = {adapter.match(url.split("?")[0])[0] for url in console_urls(seeded)}
    pages = {rule.endpoint for rule in console_app.url_map.iter_rules()
             if rule.endpoint.startswith("console.") and "GET" in (rule.methods or ())}
    assert pages - NOT_HTML - walked == set(), "add the new page to console_urls()"


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_no_console_page_shows_english_in_french(login: Any, seeded: dict[str, Any], role: str) -> None:
    client = login(role)
    found = [leak for url in console_urls(seeded) for leak in page_leaks(client, url)]
    assert found == [], "\n".join(found)


def test_the_log_in_page_and_the_error_pages_are_french(console_app: Any, login: Any) -> None:
    anonymous = console_app.test_client()
    found = list(page_leaks(anonymous, "/login"))
    found += list(page_leaks(anonymous, "/no-such-page"))
    viewer = login("viewer")
    found += list(page_leaks(viewer, "/console/compose"))  # 403
    found += list(page_leaks(viewer, "/console/no-such-page"))  # 404
    found += list(page_leaks(viewer, "/console/messages/1/requeue"))  # 405
    found += list(page_leaks(login("operator"), "/console/messages/1/requeue", method="POST"))  # 400: no CSRF token
    assert found == [], "\n".join(found)
