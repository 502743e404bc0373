"""``flask roko draw ...``: the life cycle from the command line, the bundle, and refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from roko_app.draws.drand import QUICKNET
from roko_app.extensions import db
from roko_app.services.draws import get_draw
from tests.factories import add_entry
from tests.helpers import drand_relay, free_port

ROOT = Path(__file__).resolve().parents[2]
QUICK = json.loads((ROOT / "tests/data/draw_known_answers.json").read_text(encoding="utf-8"))["drand"][0]


def _invoke(runner: Any, *args: str) -> Any:
    return runner.invoke(args=["roko", "draw", *args])


def _refused(result: Any, text: str) -> None:
    assert result.exit_code == 1, result.output
    assert text in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an error escaping


def _seed_entries(app: Any, count: int = 25, people: int = 10) -> None:
    with app.app_context():
        for i in range(count):
            add_entry(f"62{i % people:07d}", "VALID_FIRST", datetime(2026, 6, 2, 8, tzinfo=UTC) + timedelta(minutes=i),
                      code=f"U{i:08d}")
        db.session.commit()


CREATE = ["create", "--name", "Tirage de juin", "--from", "2026-06-01T00:00", "--until", "2026-06-08T00:00+00:00",
          "--prize", "Tricycle:1", "--prize", "Sac de 50 kg:2", "--alternates", "2",
          "--beacon", "manual:LONAGUI du 9 juin"]


def test_the_whole_life_cycle_and_a_bundle_anyone_can_check(app: Any, runner: Any, tmp_path: Path) -> None:
    _seed_entries(app)
    with freeze_time("2026-05-30 12:00:00"):
        created = _invoke(runner, *CREATE)
    assert created.exit_code == 0, created.output
    draw_id = created.output.strip().splitlines()[-1]
    with freeze_time("2026-06-07 23:00:00"):
        _refused(_invoke(runner, "close", draw_id), "until")
    _refused(_invoke(runner, "run", draw_id, "--beacon-value", "1 2 3"), "close it first")
    with freeze_time("2026-06-08 00:00:01"):
        closed = _invoke(runner, "close", draw_id)
    assert closed.exit_code == 0, closed.output
    entries_sha256 = closed.output.strip().splitlines()[-1]
    assert len(entries_sha256) == 64
    run = _invoke(runner, "run", draw_id, "--beacon-value", "12 34 56")
    assert run.exit_code == 0, run.output
    _refused(_invoke(runner, "run", draw_id, "--beacon-value", "65 43 21"), "runs once")

    bundle = tmp_path / "bundle"
    exported = _invoke(runner, "export", draw_id, "--out", str(bundle))
    assert exported.exit_code == 0, exported.output
    assert sorted(p.name for p in bundle.iterdir()) == ["VERIFY.md", "draw.json", "entries.csv", "exclusions.csv",
                                                        "verify_draw.py"]
    record = json.loads((bundle / "draw.json").read_text(encoding="utf-8"))
    assert record["entries_sha256"] == entries_sha256 and record["algorithm"] == "roko-draw-v1"
    # A naive --from is Conakry time (UTC+0, no DST).
    assert record["entry_window"] == {"from": "2026-06-01T00:00:00Z", "until": "2026-06-08T00:00:00Z"}
    standalone = subprocess.run([sys.executable, "verify_draw.py", "."], cwd=bundle, capture_output=True, text=True,
                                check=False)
    assert (standalone.returncode, standalone.stdout) == (0, "OK\n")
    verified = _invoke(runner, "verify", str(bundle))
    assert verified.exit_code == 0 and verified.output.strip() == "OK"
    _refused(_invoke(runner, "export", draw_id, "--out", str(bundle)), "not empty")

    first, second = record["winners"][0]["entry_id"], record["winners"][1]["entry_id"]
    assert _invoke(runner, "claim", draw_id, "--entry", str(first)).exit_code == 0
    forfeited = _invoke(runner, "forfeit", draw_id, "--entry", str(second), "--reason", "délai dépassé")
    assert forfeited.exit_code == 0 and "alternate 1" in forfeited.output
    _refused(_invoke(runner, "claim", draw_id, "--entry", str(second)), "forfeited")

    # A tampered bundle is refused by both checkers.
    lines = (bundle / "entries.csv").read_text().splitlines(keepends=True)
    (bundle / "entries.csv").write_text("".join(lines[:-1]))
    _refused(_invoke(runner, "verify", str(bundle)), "entries")
    assert subprocess.run([sys.executable, str(bundle / "verify_draw.py"), str(bundle)], capture_output=True,
                          check=False).returncode == 1


def test_drand_run_verifies_the_signature_and_the_bundle_check_does_too(app: Any, runner: Any,
                                                                         tmp_path: Path) -> None:
    with freeze_time("2023-09-15 09:00:00"):
        _refused(_invoke(runner, "create", "--name", "Q", "--from", "2023-09-15T09:00Z", "--until",
                         "2023-09-15T11:30Z", "--prize", "Sac:1", "--alternates", "1",
                         "--beacon", f"drand-quicknet:{QUICK['round']}"), "before the window ends")
    draw_id = _closed_quicknet_draw(app, runner)
    flipped = bytearray.fromhex(QUICK["signature"])
    flipped[-1] ^= 1
    _refused(_invoke(runner, "run", draw_id, "--beacon-signature", flipped.hex()), "does not verify")
    run = _invoke(runner, "run", draw_id, "--beacon-signature", QUICK["signature"])
    assert run.exit_code == 0, run.output
    assert QUICK["randomness"] in run.output
    bundle = tmp_path / "q"
    assert _invoke(runner, "export", draw_id, "--out", str(bundle)).exit_code == 0
    assert _invoke(runner, "verify", str(bundle)).output.strip() == "OK"
    record = json.loads((bundle / "draw.json").read_text())
    record["beacon"]["round"] += 1  # same signature, another round: only the BLS check sees it
    (bundle / "draw.json").write_text(json.dumps(record))
    _refused(_invoke(runner, "verify", str(bundle)), "does not verify")


@pytest.mark.parametrize(("args", "text"), [
    (["close", "NOPE"], "No draw"),
    (["run", "NOPE", "--beacon-value", "x"], "No draw"),
    (["create", *CREATE[1:7], "--prize", "Tricycle", "--alternates", "1"], "NAME:COUNT"),
    (["create", *CREATE[1:7], "--prize", "T:1", "--alternates", "1", "--beacon", "coin:3"], "Unknown beacon"),
])
def test_refusals_exit_1_with_one_line(app: Any, runner: Any, args: list[str], text: str) -> None:
    _refused(_invoke(runner, *args), text)


def test_close_with_no_eligible_entry_is_refused(app: Any, runner: Any) -> None:
    with freeze_time("2026-05-30 12:00:00"):
        draw_id = _invoke(runner, *CREATE).output.strip().splitlines()[-1]
    with freeze_time("2026-06-09 00:00:00"):
        _refused(_invoke(runner, "close", draw_id), "no eligible entry")


def test_exclude_file(app: Any, runner: Any, tmp_path: Path) -> None:
    _seed_entries(app, 10, 5)
    file = tmp_path / "staff.csv"
    file.write_text("msisdn,reason\n+224 620 000 001,staff\n620000002,\n", encoding="utf-8")
    with freeze_time("2026-05-30 12:00:00"):
        draw_id = _invoke(runner, *CREATE, "--exclude-file", str(file)).output.strip().splitlines()[-1]
    with freeze_time("2026-06-09 00:00:00"):
        closed = _invoke(runner, "close", draw_id)
    assert closed.exit_code == 0, closed.output
    assert "6 entries from 3 participants" in closed.output
    bad = tmp_path / "bad.csv"
    bad.write_text("phone\n620000001\n", encoding="utf-8")
    _refused(_invoke(runner, *CREATE, "--exclude-file", str(bad)), "msisdn")


def test_expire_claims_forfeits_late_prizes_once_with_the_configured_delay(make_app: Any) -> None:
    app = make_app(DRAW_CLAIM_DAYS=10)
    runner = app.test_cli_runner()
    _seed_entries(app)
    with freeze_time("2026-05-30 12:00:00"):
        draw_id = _invoke(runner, *CREATE).output.strip().splitlines()[-1]
    with freeze_time("2026-06-08 00:00:01"):
        assert _invoke(runner, "close", draw_id).exit_code == 0
    with freeze_time("2026-06-09 09:00:00"):
        assert _invoke(runner, "run", draw_id, "--beacon-value", "12 34 56").exit_code == 0
    with freeze_time("2026-06-19 09:00:00"):  # exactly 10 days later: still in time
        on_time = _invoke(runner, "expire-claims")
    assert on_time.exit_code == 0 and on_time.output.strip().splitlines()[-1] == "0 prize(s) past their claim deadline"
    with freeze_time("2026-06-19 09:00:01"):
        late = _invoke(runner, "expire-claims")
        again = _invoke(runner, "expire-claims")
    assert late.exit_code == 0, late.output
    lines = late.output.strip().splitlines()
    assert lines[-1] == "3 prize(s) past their claim deadline"
    assert sum("forfeited (délai dépassé); alternate entry" in line for line in lines) == 2
    assert sum("no alternate left" in line for line in lines) == 1
    assert again.output.strip().splitlines() == ["0 prize(s) past their claim deadline"]


def _closed_quicknet_draw(app: Any, runner: Any) -> str:
    with app.app_context():
        add_entry("620000001", "VALID_FIRST", datetime(2023, 9, 15, 9, 5, tzinfo=UTC), code="U00000001")
        add_entry("620000002", "VALID_FIRST", datetime(2023, 9, 15, 9, 6, tzinfo=UTC), code="U00000002")
        db.session.commit()
    with freeze_time("2023-09-15 09:00:00"):
        created = _invoke(runner, "create", "--name", "Q", "--from", "2023-09-15T09:00Z", "--until",
                          "2023-09-15T10:30Z", "--prize", "Sac:1", "--alternates", "1",
                          "--beacon", f"drand-quicknet:{QUICK['round']}")
    draw_id = created.output.strip().splitlines()[-1]
    with freeze_time("2023-09-15 10:45:00"):
        assert _invoke(runner, "close", draw_id).exit_code == 0
    return draw_id


def test_run_fetches_the_drand_round_when_no_signature_is_given(make_app: Any) -> None:
    path = f"{QUICKNET.chain_hash}/public/{QUICK['round']}"
    body = {"round": QUICK["round"], "signature": QUICK["signature"], "randomness": QUICK["randomness"]}
    with drand_relay({path: body}) as (url, asked):
        app = make_app(DRAND_URLS=[url])
        runner = app.test_cli_runner()
        draw_id = _closed_quicknet_draw(app, runner)
        run = _invoke(runner, "run", draw_id)
    assert run.exit_code == 0, run.output
    assert asked == ["/" + path] and QUICK["randomness"] in run.output


def test_run_without_a_reachable_relay_asks_for_the_signature(make_app: Any) -> None:
    app = make_app(DRAND_URLS=[f"http://127.0.0.1:{free_port()}"], DRAND_TIMEOUT_SECONDS=2)
    runner = app.test_cli_runner()
    draw_id = _closed_quicknet_draw(app, runner)
    _refused(_invoke(runner, "run", draw_id), "--beacon-signature")
    with app.app_context():
        assert get_draw(draw_id).state == "CLOSED"  # nothing changed


def test_a_fetched_signature_is_verified_like_a_pasted_one(make_app: Any) -> None:
    flipped = bytearray.fromhex(QUICK["signature"])
    flipped[-1] ^= 1
    path = f"{QUICKNET.chain_hash}/public/{QUICK['round']}"
    with drand_relay({path: {"round": QUICK["round"], "signature": flipped.hex()}}) as (url, _):
        app = make_app(DRAND_URLS=[url])
        runner = app.test_cli_runner()
        draw_id = _closed_quicknet_draw(app, runner)
        _refused(_invoke(runner, "run", draw_id), "does not verify")


def test_a_reason_with_a_comma_and_a_line_break_survives_to_a_bundle_both_checkers_accept(
        app: Any, runner: Any, tmp_path: Path) -> None:
    _seed_entries(app, 10, 5)
    file = tmp_path / "staff.csv"
    file.write_text('msisdn,reason\n620000001,chauffeur, dépôt de Kindia\n620000002,"staff, dépôt\nKindia"\n',
                    encoding="utf-8")
    with freeze_time("2026-05-30 12:00:00"):
        created = _invoke(runner, *CREATE, "--exclude-file", str(file))
    assert created.exit_code == 0, created.output
    draw_id = created.output.strip().splitlines()[-1]
    with freeze_time("2026-06-09 00:00:00"):
        assert _invoke(runner, "close", draw_id).exit_code == 0
    assert _invoke(runner, "run", draw_id, "--beacon-value", "12 34 56").exit_code == 0
    bundle = tmp_path / "bundle"
    assert _invoke(runner, "export", draw_id, "--out", str(bundle)).exit_code == 0
    exclusions = (bundle / "exclusions.csv").read_text(encoding="utf-8")
    assert "chauffeur, dépôt de Kindia" in exclusions and "staff, dépôt\nKindia" in exclusions
    assert _invoke(runner, "verify", str(bundle)).output.strip() == "OK"
    standalone = subprocess.run([sys.executable, "verify_draw.py", "."], cwd=bundle, capture_output=True, text=True,
                                check=False)
    assert (standalone.returncode, standalone.stdout) == (0, "OK\n")


@pytest.mark.parametrize("tamper", ["superscript-id", "not-utf8", "prize-not-an-object"])
def test_the_standalone_checker_says_in_one_line_what_is_wrong_with_a_mangled_bundle(
        app: Any, runner: Any, tmp_path: Path, tamper: str) -> None:
    _seed_entries(app, 10, 5)
    with freeze_time("2026-05-30 12:00:00"):
        draw_id = _invoke(runner, *CREATE).output.strip().splitlines()[-1]
    with freeze_time("2026-06-09 00:00:00"):
        assert _invoke(runner, "close", draw_id).exit_code == 0
    assert _invoke(runner, "run", draw_id, "--beacon-value", "12 34 56").exit_code == 0
    bundle = tmp_path / "bundle"
    assert _invoke(runner, "export", draw_id, "--out", str(bundle)).exit_code == 0
    if tamper == "superscript-id":
        (bundle / "exclusions.csv").write_text("participant_id,reason\n²,staff\n", encoding="utf-8")
    elif tamper == "not-utf8":
        (bundle / "exclusions.csv").write_bytes(b"participant_id,reason\n1,\xff\n")
    else:
        record = json.loads((bundle / "draw.json").read_text(encoding="utf-8"))
        record["prizes"] = [1]
        (bundle / "draw.json").write_text(json.dumps(record), encoding="utf-8")
    checked = subprocess.run([sys.executable, "verify_draw.py", "."], cwd=bundle, capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 1
    assert checked.stdout.startswith("FAILED: ") and checked.stdout.count("\n") == 1, checked.stdout
    assert "Traceback" not in checked.stderr, checked.stderr
    _refused(_invoke(runner, "verify", str(bundle)), "")
