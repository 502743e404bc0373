"""services.draws: create (commitment, beacon rules), close (eligibility, freezing), run
(once, verified beacon, winners as the published algorithm says), claim and forfeit."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import OutboundSms
from roko_app.models.lucky_draw import LuckyDrawEvent
from roko_app.services import draws
from roko_app.services.errors import InvalidInput, NotFound
from tests.factories import add_entry, add_participant, add_sms

ROOT = Path(__file__).resolve().parents[2]
KNOWN = json.loads((ROOT / "tests/data/draw_known_answers.json").read_text(encoding="utf-8"))
QUICK = KNOWN["drand"][0]
FROM = datetime(2026, 6, 1, tzinfo=UTC)
UNTIL = datetime(2026, 6, 8, tzinfo=UTC)


def _independent() -> Any:
    """docs/verify_draw.py: an implementation of the algorithm that shares no code with the app."""
    spec = importlib.util.spec_from_file_location("verify_draw", ROOT / "docs/verify_draw.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _create(beacon: str = "manual:LONAGUI du 9 juin", *, now: datetime = FROM, **values: Any) -> Any:
    arguments: dict[str, Any] = {"name": "Tirage de juin", "window_from": FROM, "window_until": UNTIL,
                                 "prizes": [("Tricycle", 1), ("Sac de 50 kg", 2)], "alternates": 2,
                                 "beacon": draws.parse_beacon(beacon), "actor": "admin@roko.test", "now": now}
    arguments.update(values)
    return draws.create_draw(**arguments)


def _entries(count: int = 12, people: int = 6, at: datetime = FROM + timedelta(days=1)) -> list[Any]:
    return [add_entry(f"62{i % people:07d}", "VALID_FIRST" if i < people else "VALID_AGAIN",
                      at + timedelta(minutes=i), code=f"U{i:08d}") for i in range(count)]


def test_create_commits_to_a_secret_seed(app: Any) -> None:
    with app.app_context():
        draw = _create()
        assert hashlib.sha256(bytes.fromhex(draw.seed_hex)).hexdigest() == draw.commitment
        assert draw.draw_id.isascii() and draw.state == "OPEN"
        record = draws.draw_record(draw)
        assert record["seed"] is None and record["commitment"] == draw.commitment
        assert draw.seed_hex not in json.dumps(record)
        other = _create()
        assert other.seed_hex != draw.seed_hex and other.draw_id != draw.draw_id


def test_create_picks_a_future_quicknet_round_after_until_by_default(app: Any) -> None:
    with app.app_context():
        draw = _create(None)  # type: ignore[arg-type]
        assert draw.beacon_source == "drand-quicknet"
        assert draw.beacon_planned_at is not None and draw.beacon_planned_at >= UNTIL + timedelta(hours=1)
        assert draw.beacon_planned_at - timedelta(seconds=3) < UNTIL + timedelta(hours=1)


@pytest.mark.parametrize(("beacon", "now"), [
    ("drand-quicknet:657413", datetime(2023, 9, 15, 10, tzinfo=UTC)),  # published before until (11:30)
    ("drand-quicknet:657413", datetime(2023, 9, 15, 11, 30, tzinfo=UTC)),  # already published
])
def test_create_refuses_a_round_published_too_early(app: Any, beacon: str, now: datetime) -> None:
    with app.app_context(), pytest.raises(draws.BeaconRefused, match="657413"):
        _create(beacon, now=now, window_from=now - timedelta(days=1),
                window_until=datetime(2023, 9, 15, 11, 30, tzinfo=UTC))


@pytest.mark.parametrize(("text", "field"), [
    ("manual:", "beacon"), ("coin:1", "beacon"), ("drand-quicknet:zero", "beacon"), ("drand-mainnet:0", "beacon"),
])
def test_bad_beacon_options(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        draws.parse_beacon(text)
    assert info.value.field == field


@pytest.mark.parametrize(("text", "expected"), [("Tricycle:1", ("Tricycle", 1)), ("Sac: 50 kg:10", ("Sac: 50 kg", 10))])
def test_prizes_parse(text: str, expected: tuple[str, int]) -> None:
    assert draws.parse_prize(text) == expected


@pytest.mark.parametrize("text", ["Tricycle", "Tricycle:0", ":3", "Tricycle:x"])
def test_bad_prizes_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        draws.parse_prize(text)


@pytest.mark.parametrize(("msisdn", "masked"), [("620000078", "62•••••78"), ("612345678", "61•••••78")])
def test_mask(msisdn: str, masked: str) -> None:
    assert draws.mask(msisdn) == masked


def test_close_freezes_exactly_the_eligible_entries(app: Any) -> None:
    with app.app_context():
        inside = add_entry("620000001", "VALID_FIRST", FROM, code="U00000001")  # from is inclusive
        again = add_entry("620000001", "VALID_AGAIN", UNTIL - timedelta(microseconds=1), code="U00000002")
        other = add_entry("620000002", "VALID_FIRST", FROM + timedelta(days=2), code="U00000003")
        add_entry("620000003", "VALID_FIRST", UNTIL, code="U00000004")  # until is exclusive
        add_entry("620000003", "VALID_FIRST", FROM - timedelta(seconds=1), code="U00000005")
        add_entry("620000004", "INVALID_CODE", FROM + timedelta(days=1), code="U00000006")
        add_entry("620000004", "DUPLICATE", FROM + timedelta(days=1), code="U00000007")
        late = add_entry("620000005", "VALID_FIRST", UNTIL - timedelta(hours=1), code="U00000008")
        # Classified after the window, received inside it: it counts (received_at rules).
        late.created_at = UNTIL + timedelta(hours=2)
        # Received before the window, classified inside it: it does not count.
        early = add_entry("620000006", "VALID_FIRST", FROM - timedelta(hours=1), code="U00000009")
        early.created_at = FROM + timedelta(hours=1)
        draw = _create()
        draws.close_draw(draw.draw_id, actor="admin@roko.test", now=UNTIL)
        expected = sorted([(inside.id, inside.participant_id), (again.id, again.participant_id),
                           (other.id, other.participant_id), (late.id, late.participant_id)])
        body = "entry_id,participant_id\n" + "".join(f"{e},{p}\n" for e, p in expected)
        assert draw.entries_csv == body.encode()
        assert draw.entries_sha256 == hashlib.sha256(body.encode()).hexdigest()
        assert (draw.entries_count, draw.participants_count) == (4, 3)
        assert draw.exclusions_csv == "participant_id,reason\n"


def test_exclusions_and_previous_winners_are_left_out(app: Any) -> None:
    with app.app_context():
        _entries(6, 6)
        first = _create(prizes=[("Tricycle", 1)], alternates=0)
        draws.close_draw(first.draw_id, actor="a", now=UNTIL)
        draws.run_draw(first.draw_id, actor="a", value="1 2 3", now=UNTIL)
        winner = first.picks[0].participant_id
        staff_msisdn = next(f"62{i:07d}" for i in range(6) if f"62{i:07d}" != first.picks[0].msisdn)
        staff = add_participant(staff_msisdn).id
        second = _create(exclude_previous_winners=True, exclusions=[(staff_msisdn, "staff"), ("629999999", "x")])
        draws.close_draw(second.draw_id, actor="a", now=UNTIL)
        lines = (second.exclusions_csv or "").splitlines()
        assert lines[0] == "participant_id,reason"
        assert sorted(lines[1:]) == sorted([f"{winner},previous winner ({first.draw_id})", f"{staff},staff"])
        frozen = {int(line.split(",")[1]) for line in (second.entries_csv or b"").decode().splitlines()[1:]}
        assert winner not in frozen and staff not in frozen and len(frozen) == 4


@freeze_time("2026-06-07 23:59:59")
def test_close_before_until_is_refused_and_changes_nothing(app: Any) -> None:
    with app.app_context():
        _entries()
        draw = _create()
        with pytest.raises(draws.DrawOutOfOrder, match="until") as refused:
            draws.close_draw(draw.draw_id, actor="a")
        assert draw.state == "OPEN" and draw.entries_sha256 is None
    # the console's words need the code and the end of the window as a time, not a string
    assert (refused.value.problem, refused.value.params) == ("DRAW_CLOSE_BEFORE_WINDOW_END",
                                                             {"draw_id": draw.draw_id, "window_until": UNTIL})


def test_close_with_no_eligible_entry_is_refused(app: Any) -> None:
    with app.app_context():
        add_entry("620000001", "INVALID_CODE", FROM + timedelta(days=1), code="U00000001")
        draw = _create()
        with pytest.raises(draws.NoEligibleEntries) as refused:
            draws.close_draw(draw.draw_id, actor="a", now=UNTIL)
        assert (refused.value.problem, refused.value.params) == ("DRAW_NO_ELIGIBLE_ENTRIES", {"draw_id": draw.draw_id})



def test_run_follows_the_published_algorithm_and_runs_once(app: Any) -> None:
    with app.app_context():
        _entries(30, 9)
        draw = _create()
        with pytest.raises(draws.DrawOutOfOrder, match="close"):
            draws.run_draw(draw.draw_id, actor="a", value="x", now=UNTIL)
        draws.close_draw(draw.draw_id, actor="a", now=UNTIL)
        draws.run_draw(draw.draw_id, actor="a", value="LONAGUI 9 juin: 12 34 56", now=UNTIL + timedelta(days=1))
        record = draws.draw_record(draw)
        independent = _independent()
        entries = independent.read_entries(draw.entries_csv)
        picked = independent.compute(entries, bytes.fromhex(record["seed"]), draw.draw_id, draw.entries_sha256,
                                     hashlib.sha256(b"LONAGUI 9 juin: 12 34 56").hexdigest(), 5)
        assert [(w["entry_id"], w["participant_id"]) for w in record["winners"]] == picked[:3]
        assert [w["tier"] for w in record["winners"]] == [1, 2, 2]
        assert [(a["rank"], a["entry_id"], a["participant_id"]) for a in record["alternates"]] == [
            (1, *picked[3]), (2, *picked[4])]
        assert all(w["msisdn_masked"].count("•") == 5 for w in record["winners"])
        # Every winner's SMS is queued at once; alternates wait.
        sent = db.session.scalars(select(OutboundSms).where(OutboundSms.template_key == "WINNER")).all()
        assert sorted(m.to_msisdn for m in sent) == sorted(p.msisdn for p in draw.picks if p.tier is not None)
        assert all("Tricycle" in m.text or "Sac de 50 kg" in m.text for m in sent)
        with pytest.raises(draws.DrawOutOfOrder, match="once"):
            draws.run_draw(draw.draw_id, actor="a", value="other", now=UNTIL + timedelta(days=2))
        assert draws.draw_record(draw)["winners"] == record["winners"]


def test_fewer_participants_than_prizes_leaves_prizes_unawarded(app: Any) -> None:
    with app.app_context():
        _entries(4, 2)
        draw = _create()
        draws.close_draw(draw.draw_id, actor="a", now=UNTIL)
        draws.run_draw(draw.draw_id, actor="a", value="v", now=UNTIL)
        record = draws.draw_record(draw)
        assert len(record["winners"]) == 2 and record["alternates"] == []
        assert record["unawarded"] == [{"tier": 2, "name": "Sac de 50 kg", "count": 1}]


def _drand_draw(close_at: datetime) -> Any:
    start = datetime(2023, 9, 15, 9, tzinfo=UTC)
    add_entry("620000001", "VALID_FIRST", start + timedelta(minutes=5), code="U00000001")
    add_entry("620000002", "VALID_FIRST", start + timedelta(minutes=6), code="U00000002")
    draw = _create(f"drand-quicknet:{QUICK['round']}", now=start, window_from=start,
                   window_until=datetime(2023, 9, 15, 10, 30, tzinfo=UTC))
    draws.close_draw(draw.draw_id, actor="a", now=close_at)
    return draw


def test_run_verifies_the_drand_round(app: Any) -> None:
    with app.app_context():
        draw = _drand_draw(datetime(2023, 9, 15, 10, 45, tzinfo=UTC))
        flipped = bytearray.fromhex(QUICK["signature"])
        flipped[5] ^= 0x10
        for bad in (flipped.hex(), "zz", ""):
            with pytest.raises(draws.BeaconRefused):
                draws.run_draw(draw.draw_id, actor="a", signature=bad, now=datetime(2023, 9, 15, 11, 1, tzinfo=UTC))
        assert draw.state == "CLOSED"
        with pytest.raises(draws.BeaconRefused, match="manual|signature"):
            draws.run_draw(draw.draw_id, actor="a", value="x", now=datetime(2023, 9, 15, 11, 1, tzinfo=UTC))
        draws.run_draw(draw.draw_id, actor="a", signature=QUICK["signature"],
                       now=datetime(2023, 9, 15, 11, 1, tzinfo=UTC))
        assert draw.beacon_randomness == QUICK["randomness"] and draw.state == "RUN"


def test_run_refuses_a_round_published_before_the_close(app: Any) -> None:
    with app.app_context():
        draw = _drand_draw(datetime(2023, 9, 15, 11, 30, tzinfo=UTC))
        assert draws.beacon_published_too_early(draw)
        with pytest.raises(draws.BeaconRefused, match="before") as refused:
            draws.run_draw(draw.draw_id, actor="a", signature=QUICK["signature"],
                           now=datetime(2023, 9, 15, 11, 31, tzinfo=UTC))
        assert draw.state == "CLOSED"
        assert refused.value.problem == "DRAW_ROUND_BEFORE_CLOSE"
        assert refused.value.params == {"round": draw.beacon_round, "published_at": draws.drand.round_time(
            draws.drand.QUICKNET, draw.beacon_round), "closed_at": draw.closed_at}


def test_claim_and_forfeit_promote_the_next_alternate(app: Any) -> None:
    with app.app_context():
        _entries(20, 8)
        draw = _create()
        draws.close_draw(draw.draw_id, actor="a", now=UNTIL)
        draws.run_draw(draw.draw_id, actor="a", value="v", now=UNTIL)
        first, second = draw.picks[0], draw.picks[1]
        alternate_1, alternate_2 = draw.picks[3], draw.picks[4]
        draws.claim(draw.draw_id, first.entry_id, actor="op@roko.test", now=UNTIL + timedelta(days=1))
        assert first.state == "claimed"
        with pytest.raises(draws.DrawOutOfOrder):
            draws.forfeit(draw.draw_id, first.entry_id, reason="late", actor="op")
        promoted = draws.forfeit(draw.draw_id, second.entry_id, reason="délai dépassé", actor="op@roko.test")
        assert promoted is alternate_1 and alternate_1.tier == second.tier == 2 and alternate_1.state == "notified"
        assert alternate_1.replaces_id == second.id and second.forfeit_reason == "délai dépassé"
        assert alternate_2.state == "reserve"
        queued = db.session.get(OutboundSms, alternate_1.outbound_sms_id)
        assert queued is not None and queued.to_msisdn == alternate_1.msisdn
        with pytest.raises(NotFound):
            draws.claim(draw.draw_id, alternate_2.entry_id, actor="op")
        actions = [e.action for e in db.session.scalars(select(LuckyDrawEvent).where(
            LuckyDrawEvent.draw_id == draw.id).order_by(LuckyDrawEvent.id))]
        assert actions == ["created", "closed", "run", "notified", "notified", "notified", "claimed", "forfeited",
                           "promoted", "notified"]
        with pytest.raises(NotFound):
            draws.get_draw("nope")


# --- notices and claim deadlines -------------------------------------------------------

RUN_AT = datetime(2026, 6, 9, 10, 0, tzinfo=UTC)


def _run(**run_options: Any) -> Any:
    _entries(20, 8)
    draw = _create()
    draws.close_draw(draw.draw_id, actor="a", now=UNTIL)
    with freeze_time(RUN_AT):
        draws.run_draw(draw.draw_id, actor="a", value="v", **run_options)
    return draw


def _winner_sms(draw: Any) -> dict[str, str]:
    rows = db.session.scalars(select(OutboundSms).where(OutboundSms.template_key == "WINNER"))
    return {m.to_msisdn: m.text for m in rows}


def test_each_notified_prize_gets_its_claim_deadline_and_the_sms_names_it(app: Any) -> None:
    with app.app_context():
        draw = _run(claim_days=7)
        deadline = RUN_AT + timedelta(days=7)
        winners = [p for p in draw.picks if p.tier is not None]
        assert [p.claim_deadline for p in winners] == [deadline] * 3
        assert all(p.claim_deadline is None for p in draw.picks if p.tier is None), "alternates wait"
        texts = _winner_sms(draw)
        tricycle = next(p for p in winners if p.tier == 1)
        assert texts[tricycle.msisdn] == ("ROKO : vous avez gagné Tricycle au tirage ! Un agent vous appellera. Gardez "
                                          "le sac et son code. Réclamez avant le 16/06/2026.")
        assert draws.draw_record(draw)["winners"][0]["claim_deadline"] == "2026-06-16T10:00:00Z"


def test_the_winner_sms_follows_the_edited_template(app: Any) -> None:
    from roko_app.services import replies

    with app.app_context():
        replies.save_template("WINNER", "Bravo ! {prize} pour vous, à retirer avant le {deadline}.", updated_by="op")
        draw = _run()
        texts = set(_winner_sms(draw).values())
        assert texts == {"Bravo ! Tricycle pour vous, à retirer avant le 09/07/2026.",
                         "Bravo ! Sac de 50 kg pour vous, à retirer avant le 09/07/2026."}


@pytest.mark.parametrize(("text", "problem"), [
    ("Bravo {code}", "Unknown placeholder"),  # the outcome replies' placeholders are not the notice's
    ("x" * 111 + "{prize}{deadline}", "one SMS holds 160"),  # 111 + 40 + 10 = 161
    ("Gagné ‘{prize}’ " + "x" * 25, "one SMS holds 70"),  # a curly quote: UCS-2, 74 > 70
])
def test_a_winner_template_that_could_overflow_one_sms_is_refused(app: Any, text: str, problem: str) -> None:
    from roko_app.services import replies

    with app.app_context(), pytest.raises(InvalidInput, match=problem):
        replies.save_template("WINNER", text, updated_by="op")
    with app.app_context():
        assert replies.save_template("WINNER", "x" * 110 + "{prize}{deadline}", updated_by="op").key == "WINNER"


def test_a_prize_name_longer_than_the_sms_allows_is_refused_at_creation(app: Any) -> None:
    with app.app_context():
        with pytest.raises(InvalidInput, match="at most 40"):
            _create(prizes=[("T" * 41, 1)])
        assert _create(prizes=[("T" * 40, 1)]).prizes[0].name == "T" * 40


def test_prizes_past_their_deadline_are_forfeited_and_passed_on(app: Any) -> None:
    with app.app_context():
        draw = _run(claim_days=30)
        deadline = RUN_AT + timedelta(days=30)
        first, second, third = (p for p in draw.picks if p.tier is not None)
        alternate_1, alternate_2 = (p for p in draw.picks if p.alternate_rank is not None)
        with freeze_time(deadline - timedelta(days=1)):
            draws.claim(draw.draw_id, first.entry_id, actor="op")
        with freeze_time(deadline):  # the deadline itself is still in time
            assert draws.expire_claims(actor="system", claim_days=30) == []
            assert second.state == third.state == "notified"
        with freeze_time(deadline + timedelta(microseconds=1)):
            with pytest.raises(draws.DrawOutOfOrder, match="délai dépassé"):
                draws.claim(draw.draw_id, second.entry_id, actor="op")
            expired = draws.expire_claims(actor="system", claim_days=30)
        assert expired == [draws.Expired(draw.draw_id, second.entry_id, alternate_1.entry_id),
                           draws.Expired(draw.draw_id, third.entry_id, alternate_2.entry_id)]
        assert first.state == "claimed"
        assert (second.state, second.forfeit_reason, third.forfeit_reason) == ("forfeited", "délai dépassé",
                                                                               "délai dépassé")
        assert (alternate_1.state, alternate_1.tier, alternate_2.tier) == ("notified", second.tier, third.tier)
        assert alternate_1.claim_deadline == deadline + timedelta(microseconds=1) + timedelta(days=30)
        assert set(_winner_sms(draw)) >= {alternate_1.msisdn, alternate_2.msisdn}
        with freeze_time(deadline + timedelta(days=1)):
            assert draws.expire_claims(actor="system", claim_days=30) == [], "idempotent"
        events = [e for e in draw.events if e.action in ("forfeited", "promoted")]
        assert [(e.action, e.actor) for e in events] == [("forfeited", "system"), ("promoted", "system")] * 2
        with freeze_time(alternate_1.claim_deadline + timedelta(seconds=1)):
            again = draws.expire_claims(actor="system", claim_days=30)
        assert again == [draws.Expired(draw.draw_id, alternate_1.entry_id, None),
                         draws.Expired(draw.draw_id, alternate_2.entry_id, None)], "no alternate left"


@pytest.mark.parametrize(("call", "problem", "params"), [
    (lambda: draws.parse_beacon("lottery:1"), "DRAW_BEACON_UNKNOWN_SOURCE", {"value": "lottery"}),
    (lambda: draws.parse_beacon("drand-quicknet:0"), "DRAW_BEACON_BAD_ROUND", {"value": "0"}),
    (lambda: draws.parse_beacon("manual: "), "DRAW_BEACON_DESCRIPTION_MISSING", {}),
    (lambda: draws.parse_prize("Tricycle"), "DRAW_PRIZE_FORMAT", {"value": "Tricycle"}),
    (lambda: draws.read_exclusions(["numero", "620000001"]), "DRAW_EXCLUSIONS_NO_MSISDN_COLUMN",
     {"column": "msisdn"}),
    (lambda: draws.read_exclusions(["msisdn,reason", "620000001,a", "12,b"]), "DRAW_EXCLUSIONS_BAD_NUMBER",
     {"line": 3, "value": "12"}),
    (lambda: draws.read_exclusions(["msisdn,reason", "12,b"], first_line=1), "DRAW_EXCLUSIONS_BAD_NUMBER",
     {"line": 1, "value": "12"}),
])
def test_parsing_refusals_carry_a_problem_code_and_the_typed_value(call: Any, problem: str,
                                                                   params: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as refused:
        call()
    assert (refused.value.problem, refused.value.params) == (problem, params)


# --- hardening: what an auditor or a hostile input found ------------------------------------


def test_close_waits_for_every_sms_of_the_window_to_be_classified(app: Any) -> None:
    """An SMS received inside the window but not classified yet (a backlog, or parked)
    would be left out of the frozen list for good: the close is refused until it is."""
    with app.app_context():
        add_entry("620000001", "VALID_FIRST", FROM + timedelta(days=1), code="U00000001")
        waiting = add_sms("620000002", "ROKO U10000002", UNTIL - timedelta(minutes=1))
        add_sms("620000003", "ROKO U10000003", UNTIL)  # after the window (until is exclusive): no matter
        add_sms("620000004", "ROKO U10000004", FROM - timedelta(seconds=1))  # before it: no matter
        draw = _create()
        with pytest.raises(draws.DrawOutOfOrder) as refused:
            draws.close_draw(draw.draw_id, actor="a", now=UNTIL + timedelta(seconds=5))
        assert refused.value.problem == "DRAW_UNCLASSIFIED_SMS" and refused.value.params["count"] == 1
        assert draw.state == "OPEN"
        waiting.classified_at = UNTIL + timedelta(seconds=6)
        db.session.flush()
        draws.close_draw(draw.draw_id, actor="a", now=UNTIL + timedelta(seconds=10))
        assert draw.state == "CLOSED"


def test_a_public_value_draw_is_created_before_its_window_ends(app: Any) -> None:
    with app.app_context():
        with pytest.raises(draws.BeaconRefused) as refused:
            _create(now=UNTIL)
        assert refused.value.problem == "DRAW_WINDOW_OVER"
        assert _create(now=UNTIL - timedelta(microseconds=1)).state == "OPEN"
        # a drand round is not known to anyone in advance: such a draw may still be set up late
        assert _create("drand-quicknet", now=UNTIL + timedelta(days=1)).state == "OPEN"


@pytest.mark.parametrize(("values", "problem"), [
    ({"name": "n" * 201}, "DRAW_NAME_TOO_LONG"),
    ({"beacon": "manual:" + "d" * 501}, "DRAW_BEACON_DESCRIPTION_TOO_LONG"),
    ({"prizes": [("Sac", 10_001)]}, "DRAW_PRIZE_COUNT"),
    ({"prizes": [("Sac", 99_999_999_999)]}, "DRAW_PRIZE_COUNT"),
])
def test_values_no_column_can_hold_are_refused_at_creation(app: Any, values: dict[str, Any], problem: str) -> None:
    with app.app_context():
        with pytest.raises(InvalidInput) as refused:
            _create(**values)
        assert refused.value.problem == problem


def test_values_at_the_limits_are_accepted_at_creation(app: Any) -> None:
    with app.app_context():
        draw = _create("manual:" + "d" * 500, name="n" * 200, prizes=[("Sac", 10_000)])
        db.session.flush()
        assert draw.state == "OPEN" and draw.prizes[0].count == 10_000


def test_a_public_value_longer_than_its_column_is_refused_and_the_draw_stays_closed(app: Any) -> None:
    with app.app_context():
        _entries()
        draw = _create()
        draws.close_draw(draw.draw_id, actor="a", now=UNTIL)
        with pytest.raises(InvalidInput) as refused:
            draws.run_draw(draw.draw_id, actor="a", value="v" * 501, now=UNTIL)
        assert refused.value.problem == "DRAW_VALUE_TOO_LONG" and draw.state == "CLOSED"
        draws.run_draw(draw.draw_id, actor="a", value="v" * 500, now=UNTIL)
        assert draw.state == "RUN"


def test_typed_exclusions_keep_each_line_and_its_reason_as_typed() -> None:
    typed = ['620000001,"chauffeur', "620000002,staff", "", "620000003,chauffeur, dépôt de Kindia", "620000004"]
    assert draws.read_exclusion_lines(typed) == [
        ("620000001", '"chauffeur'), ("620000002", "staff"), ("620000003", "chauffeur, dépôt de Kindia"),
        ("620000004", "excluded")]
    with pytest.raises(InvalidInput) as refused:
        draws.read_exclusion_lines(["620000001,ok", "12,staff"])
    assert refused.value.params == {"line": 2, "value": "12"}


def test_an_exclusion_file_row_with_commas_in_its_reason_keeps_them() -> None:
    rows = draws.read_exclusions(["msisdn,reason", "620000001,chauffeur, dépôt de Kindia", '620000002,"a, b"'])
    assert rows == [("620000001", "chauffeur, dépôt de Kindia"), ("620000002", "a, b")]


def test_two_forfeits_at_once_take_turns_and_promote_different_alternates(app: Any) -> None:
    """A console forfeit while the cron's expire-claims forfeits another prize of the same
    draw: the second waits for the first (the draw is locked), then promotes the next
    alternate, not the same one. On PostgreSQL and SQLite alike, through two connections."""
    with app.app_context():
        _entries(20, 8)
        draw = _create()
        draws.close_draw(draw.draw_id, actor="a", now=UNTIL)
        draws.run_draw(draw.draw_id, actor="a", value="v", now=UNTIL)
        draw_id, first_prize, second_prize = draw.draw_id, draw.picks[0].entry_id, draw.picks[1].entry_id
        db.session.commit()
    holding, release = threading.Event(), threading.Event()
    promoted: dict[str, int | None] = {}
    failures: list[BaseException] = []

    def forfeit(name: str, entry_id: int, hold: bool) -> None:
        try:
            with app.app_context():
                if not hold:
                    holding.wait(10)
                successor = draws.forfeit(draw_id, entry_id, reason="r", actor=name, now=UNTIL + timedelta(days=1))
                promoted[name] = successor.entry_id if successor else None
                if hold:
                    holding.set()
                    release.wait(10)
                db.session.commit()
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)
            holding.set()

    first = threading.Thread(target=forfeit, args=("console", first_prize, True))
    second = threading.Thread(target=forfeit, args=("cron", second_prize, False))
    first.start()
    second.start()
    assert holding.wait(10)
    second.join(0.5)
    assert second.is_alive(), "the second forfeit waits for the first one's transaction"
    release.set()
    first.join(15)
    second.join(15)
    assert not failures, failures
    assert promoted["console"] is not None and promoted["cron"] is not None
    assert promoted["console"] != promoted["cron"]
    with app.app_context():
        picks = draws.get_draw(draw_id).picks
        assert sorted(p.tier for p in picks if p.state == "notified") == [1, 2, 2]  # every prize has a holder


@pytest.mark.parametrize("typed", ["12 34 56 78 ", " 12 34 56 78", "12  34 56 78", "12 34 56 78\n", "12\t34 56\r\n78"])
def test_how_a_public_value_is_typed_cannot_change_the_winners(app: Any, typed: str) -> None:
    """Spaces are normalised before the value is used: whoever runs the draw cannot try
    renderings of the published numbers until one makes the winner they want. The value
    used (hashed into the draw's key) is the one stored and published."""
    with app.app_context():
        _entries(20, 8)
        draw = _create()
        draws.close_draw(draw.draw_id, actor="a", now=UNTIL)
        draws.run_draw(draw.draw_id, actor="a", value=typed, now=UNTIL)
        assert draw.beacon_value == "12 34 56 78"
        record = draws.draw_record(draw)
        assert record["beacon"]["value"] == "12 34 56 78"
        # the winners follow from this hash (with the seed, the draw id and the entries)
        assert draw.beacon_randomness == draws.algorithm.manual_beacon_hex("12 34 56 78")
