"""Issue 13, part 3: one module of labels (console/labels.py) covering every value the
console shows, in French; plurals, percentages and the one date format."""

from __future__ import annotations

import ast
import html
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask_babel import force_locale

from roko_app.console import labels
from roko_app.models import CallbackState, OutboundStatus, Outcome
from roko_app.models.accounts import Role
from roko_app.models.lucky_draw import DrawState, PickState
from roko_app.reads.campaigns import PROGRESS_GROUPS
from roko_app.reads.messages import DELIVERY
from roko_app.services import replies
from roko_app.services.code_registry import ROW_PROBLEMS, RowError
from roko_app.services.errors import DomainError, InvalidInput
from tests.factories import add_entry

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("members", "table"), [
    (Role, labels.ROLE_LABELS),
    (Outcome, labels.OUTCOME_LABELS),
    (OutboundStatus, labels.STATUS_LABELS),
    (DrawState, labels.DRAW_STATE_LABELS),
    (PickState, labels.PICK_STATE_LABELS),
    (CallbackState, labels.CALLBACK_STATE_LABELS),
    (set(DELIVERY.values()), labels.DELIVERY_LABELS),
    (PROGRESS_GROUPS, labels.GROUP_LABELS),
    ([*replies.DEFAULT_REPLIES, replies.WINNER], labels.TEMPLATE_LABELS),
    (ROW_PROBLEMS, labels.ROW_PROBLEM_LABELS),
], ids=["role", "outcome", "status", "draw", "pick", "callback", "delivery", "progress", "template", "row-problem"])
def test_every_value_has_a_label(members: Any, table: dict[Any, Any]) -> None:
    assert {str(member) for member in members} - {str(key) for key in table} == set()


# The actions the code audits: accounts.audit(actor, "<action>", ...), the admin and draw
# pages' _audit("<action>", ...) and the draw steps _step(draw_id, "<action>", ...).
AUDITED = re.compile(r'(?:\baudit\([^,()]+,\s*|\b_audit\(|\b_step\(draw_id,\s*)"([a-z_]+(?:\.[a-z_]+)?)"')


def test_every_audited_action_has_a_label() -> None:
    actions = {match for path in (ROOT / "roko_app").rglob("*.py")
               for match in AUDITED.findall(path.read_text(encoding="utf-8"))}
    actions |= {"user.reactivate", "user.deactivate"}  # chosen by a condition in console/admin.py
    assert len(actions) > 25, actions  # the pattern still finds them
    assert actions - set(labels.AUDIT_ACTION_LABELS) == set()
    assert {action.split(".")[0] + "." for action in actions if "." in action} - set(labels.AUDIT_FAMILY_LABELS) == set()


def label_tables() -> list[dict[Any, Any]]:
    return [value for name, value in vars(labels).items()
            if name.endswith("_LABELS") and isinstance(value, dict)]


# Labels that read the same in both languages.
SAME_IN_FRENCH = {"Optimove", "SMS", "Codes", "Code", "Action", "drand quicknet", "drand mainnet"}


def test_every_label_has_its_french_words(app: Any) -> None:
    def words(locale: str) -> list[str]:
        with app.test_request_context(), force_locale(locale):
            return [str(label) for table in label_tables() for label in table.values()]

    untranslated = [english for english, french in zip(words("en"), words("fr"), strict=True)
                    if english == french and english not in SAME_IN_FRENCH]
    assert untranslated == []


@pytest.mark.parametrize(("last_error", "text", "quoted"), [
    (None, None, None),
    ("rejected by the gateway: simulated rejection", "Refusé par la passerelle", "simulated rejection"),
    ("transient: connection error: refused", "Pas encore envoyé, un nouvel essai suivra", "connection error: refused"),
    ("gave up after 1 attempts: timeout", "Abandonné après 1 essai", "timeout"),
    ("gave up after 5 attempts: HTTP 503; the gateway has no record of it",
     "Abandonné après 5 essais (la passerelle ne le connaît pas)", "HTTP 503"),
    ("gave up after 5 attempts: timeout; an earlier attempt may have gone out and the gateway could not be asked "
     "(status query timed out)",
     "Abandonné après 5 essais (un essai précédent est peut-être parti, et la passerelle n'a pas pu être interrogée)",
     "timeout"),
    ("cancelled by operator@roko.test", "Annulé par operator@roko.test", None),
    ("CANCELLED_OPTED_OUT", "Annulé : le numéro s'est désinscrit (STOP) avant l'envoi du message.", None),
    ("re-queued: the gateway has no record of it (status query)",
     "Remis en file d'attente : la passerelle ne le connaissait pas", None),
    ("something new", "Erreur", "something new"),
])
def test_a_message_failure_reads_in_french_with_the_gateway_words_quoted(app: Any, last_error: str | None,
                                                                          text: str | None, quoted: str | None) -> None:
    with app.test_request_context(), force_locale("fr"):
        found = labels.failure(last_error)
        assert (found and found.text, found and found.quoted) == (text, quoted)
        if quoted:
            assert f'<q translate="no">{quoted}</q>' in str(labels.failure_html(last_error))


@pytest.mark.parametrize(("action", "details", "words"), [
    ("codes.import", {"already_present": 4, "bad": 3}, "4 codes déjà enregistrés, 3 lignes refusées"),
    ("codes.import", {"already_present": 1, "bad": 0, "file": "lot.csv"},
     "1 code déjà enregistré, 0 ligne refusée, fichier lot.csv"),
    ("user.role", {"from": "viewer", "to": "admin"}, "de Lecteur à Administrateur"),
    ("user.create", {"role": "operator"}, "rôle Opérateur"),
    ("entries.export", {"outcome": "VALID_FIRST", "from": "2026-06-01"}, "du 01/06/2026, Valide, 1re"),
    ("campaign.cancel", {"cancelled": 1}, "1 message annulé"),
    ("login.failed", {"account": "unknown"}, "compte inconnu"),
    ("login.lock", {"scope": "address", "until": "2026-06-10T12:15:00+00:00"},
     "bloqué : cette adresse, jusqu'au 10/06/2026 12:15"),
    ("notified", {"entry_id": 7, "claim_deadline": "2026-06-24T12:00:00+00:00"},
     "jusqu'au 24/06/2026 12:00, participation 7"),
    ("sms.requeue", None, ""),
])
def test_audit_details_read_as_a_french_sentence(app: Any, action: str, details: dict[str, Any] | None,
                                                 words: str) -> None:
    with app.test_request_context(), force_locale("fr"):
        assert labels.details_text(action, details) == words
        assert labels.audit_action_label("sms.requeue") == "Message remis en file d'attente"
        assert labels.audit_action_label("sms.") == "SMS (toutes)"


def test_callers_are_named_in_french(app: Any) -> None:
    with app.test_request_context(), force_locale("fr"):
        assert [labels.caller_label(c) for c in ("auto-reply", "optimove", "draw:20260601-ABC123",
                                                 "operator@roko.test", "ops-dashboard", None)] == [
            "Réponse automatique", "Campagne Optimove", "Tirage 20260601-ABC123", "operator@roko.test",
            "Clé API ops-dashboard", ""]


def test_one_date_format_and_french_percentages(app: Any) -> None:
    with app.test_request_context(), force_locale("fr"):
        assert labels.moment(datetime(2026, 11, 26, 14, 5, 59, tzinfo=UTC)) == "26/11/2026 14:05"
        assert labels.moment(None) == "–"
        assert labels.day("2026-06-01") == "01/06/2026"
        assert [labels.percent(v) for v in (16.7, 0, 100, None)] == ["16,7\u00a0%", "0\u00a0%", "100\u00a0%", "–"]


def test_service_problems_are_codes_the_console_words(app: Any) -> None:
    refused = InvalidInput("file", "The header has no 'code' column (columns: numero; delimiter ',').",
                           problem="CODES_NO_CODE_COLUMN", columns="numero", delimiter=",")
    with app.test_request_context(), force_locale("fr"):
        assert labels.problem_text(refused) == "la première ligne n'a pas de colonne « code » (colonnes lues : numero)."
        assert labels.problem_text(InvalidInput("x", "Anything.")) == "Une valeur n'est pas acceptable."
        assert labels.row_problem(RowError(8, "FIELD_COUNT", {"expected": 2, "found": 3})) == "3 champs au lieu de 2"


@pytest.mark.parametrize(("farmers", "words"), [(1, "1 agriculteur<"), (2, "2 agriculteurs<")])
def test_counts_take_the_french_plural(console_app: Any, login: Any, farmers: int, words: str) -> None:
    from roko_app.extensions import db

    with console_app.app_context():
        for index in range(farmers):
            add_entry(f"62000000{index}", "VALID_FIRST", datetime(2026, 6, 1, tzinfo=UTC), code=f"U1000000{index}")
        db.session.commit()
    assert words in login("viewer").get("/console/").get_data(as_text=True)


# --- the draw service's refusals (services.draws): a problem code each, French words each ---

DRAW_SERVICE = ROOT / "roko_app" / "services" / "draws.py"


def test_every_refusal_of_the_draw_service_carries_a_problem_code() -> None:
    tree = ast.parse(DRAW_SERVICE.read_text(encoding="utf-8"))
    raised = [node.exc for node in ast.walk(tree) if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)]
    refusals = [call for call in raised if isinstance(call.func, ast.Name) and call.func.id in
                {"InvalidInput", "NotFound", "DrawOutOfOrder", "BeaconRefused", "NoEligibleEntries"}]
    assert len(refusals) > 30, "the walk still finds them"
    assert [call.lineno for call in refusals if not any(kw.arg == "problem" for kw in call.keywords)] == []


def test_every_draw_problem_code_has_its_french_words(app: Any) -> None:
    codes = set(re.findall(r'"(DRAW_[A-Z_]+)"', DRAW_SERVICE.read_text(encoding="utf-8")))
    assert len(codes) > 30 and "DRAW_BEACON_NO_RELAY" in codes
    assert codes - set(labels.PROBLEM_LABELS) == set()
    def words(locale: str) -> dict[str, str]:
        with app.test_request_context(), force_locale(locale):
            return {code: str(labels.PROBLEM_LABELS[code]) for code in codes}

    english, french = words("en"), words("fr")
    assert [code for code in codes if english[code] == french[code]] == []


def plain(words: str) -> str:
    """What the reader sees of the console's words (quoted data as text)."""
    return html.unescape(re.sub(r"<[^>]+>", "", str(words)))


JUNE_8 = datetime(2026, 6, 8, tzinfo=UTC)


@pytest.mark.parametrize(("problem", "params", "sentence"), [
    ("DRAW_ALREADY_CLOSED", {"draw_id": "20260601-ABC123"}, "Le tirage 20260601-ABC123 est déjà clôturé."),
    ("DRAW_CLOSE_BEFORE_WINDOW_END", {"draw_id": "20260601-ABC123", "window_until": JUNE_8},
     "Le tirage 20260601-ABC123 reçoit des participations jusqu'au 08/06/2026 00:00 : clôturez-le ensuite."),
    ("DRAW_NOT_CLOSED", {"draw_id": "D1"}, "Le tirage D1 n'est pas encore clôturé : clôturez-le d'abord."),
    ("DRAW_ALREADY_RUN", {"draw_id": "D1"}, "Le tirage D1 a déjà été lancé ; un tirage ne se lance qu'une fois."),
    ("DRAW_NO_ELIGIBLE_ENTRIES", {"draw_id": "D1"},
     "Le tirage D1 n'a aucune participation retenue : il n'y a rien à clôturer."),
    ("DRAW_PRIZE_FORMAT", {"value": "Tricycle"},
     "Un lot s'écrit NOM:NOMBRE avec un nombre d'au moins 1 (par exemple Tricycle:2), et non Tricycle."),
    ("DRAW_PRIZE_NAME_TOO_LONG", {"name": "T" * 41, "max": 40},
     f"Le nom d'un lot a au plus 40 caractères (il figure dans le SMS du gagnant) : {'T' * 41} est trop long."),
    ("DRAW_WINDOW_ORDER", {"window_from": JUNE_8, "window_until": datetime(2026, 5, 1, tzinfo=UTC)},
     "La fin de la période de participation (01/05/2026 00:00) doit venir après son début (08/06/2026 00:00)."),
    ("DRAW_EXCLUSIONS_BAD_NUMBER", {"line": 1, "value": "12"},
     "Numéros exclus, ligne 1 : 12 n'est pas un numéro mobile guinéen."),
    ("DRAW_ROUND_BEFORE_CLOSE", {"round": 657413, "published_at": datetime(2023, 9, 15, 10, 30, tzinfo=UTC),
                                 "closed_at": datetime(2023, 9, 15, 10, 45, tzinfo=UTC)},
     "Le tour drand 657413 a été publié le 15/09/2023 10:30, avant la clôture du tirage (15/09/2023 10:45) : "
     "il ne peut pas servir."),
    ("DRAW_SIGNATURE_NEEDED", {"source": "drand-quicknet", "round": 12},
     "Le hasard de ce tirage est le tour 12 de drand quicknet : donnez sa signature, sans valeur publique."),
    ("DRAW_SIGNATURE_INVALID", {"error": "signature must be 48 bytes on G1"},
     "La signature drand n'est pas valide : signature must be 48 bytes on G1."),
    ("DRAW_BEACON_FETCH_FAILED", {"round": 12, "url": "https://relay.test/r/12", "error": "timed out"},
     "Le tour drand 12 n'a pas pu être récupéré (timed out). Ouvrez https://relay.test/r/12 depuis un poste qui y "
     "accède et collez la signature du tour."),
    ("DRAW_PRIZE_SETTLED", {"entry_id": 7, "state": "claimed"}, "Le lot de la participation 7 est déjà remis."),
    ("DRAW_CLAIM_TOO_LATE", {"entry_id": 7, "deadline": datetime(2026, 7, 9, 10, tzinfo=UTC)},
     "Le lot de la participation 7 devait être retiré au plus tard le 09/07/2026 10:00 : il est perdu."),
    ("DRAW_FORFEIT_REASON_MISSING", {}, "Dites pourquoi le lot est perdu."),
])
def test_a_draw_refusal_reads_as_a_french_sentence(app: Any, problem: str, params: dict[str, Any],
                                                   sentence: str) -> None:
    refused = DomainError("An English sentence for the CLI.", problem=problem, **params)
    with app.test_request_context(), force_locale("fr"):
        words = labels.problem_text(refused)
    assert plain(words) == sentence
    for key in {"value", "name", "error", "url"} & set(params):  # data, quoted as it came
        assert f'<q translate="no">{html.escape(str(params[key]), quote=True)}</q>' in str(words)
