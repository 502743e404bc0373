"""Tests for roko_app.services.code_registry: keyed hashes, CSV import, generation, statistics."""

from __future__ import annotations

import hashlib
import hmac
import io
import statistics
from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select, text

from roko_app.extensions import db
from roko_app.models import Code
from roko_app.services import code_registry
from roko_app.services.code_registry import BatchStats, RowError
from roko_app.services.errors import InvalidInput
from roko_app.sms.parsing import KEYSPACE, code_number, is_canonical

KEY = "test-code-key"


def run_import(app: Any, content: str, batch: str = "LOT-A", key: str = KEY) -> code_registry.ImportReport:
    with app.app_context():
        report = code_registry.import_codes(io.StringIO(content, newline=""), batch, key)
        db.session.commit()
        return report


def all_codes(app: Any) -> list[Code]:
    with app.app_context():
        rows = list(db.session.scalars(select(Code).order_by(Code.id)))
        db.session.expunge_all()
        return rows


def count_codes(app: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Code)) or 0


# --- hash_code -------------------------------------------------------------------------

def test_hash_is_hmac_sha256_of_the_canonical_code_under_the_key() -> None:
    expected = hmac.new(KEY.encode(), b"U12345678", hashlib.sha256).hexdigest()
    assert code_registry.hash_code("U12345678", KEY) == expected
    assert len(expected) == 64


def test_hash_is_keyed() -> None:
    assert code_registry.hash_code("U12345678", "key-one") != code_registry.hash_code("U12345678", "key-two")
    assert code_registry.hash_code("U12345678", KEY) != hashlib.sha256(b"U12345678").hexdigest()
    assert code_registry.hash_code("U12345678", KEY) != code_registry.hash_code("U12345679", KEY)


@pytest.mark.parametrize("code", ["u12345678", " U12345678", "U1234567", "ROKO U12345678", ""])
def test_hash_refuses_non_canonical_codes(code: str) -> None:
    with pytest.raises(ValueError):
        code_registry.hash_code(code, KEY)


def test_hash_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError):
        code_registry.hash_code("U12345678", "")


# --- import: rows, line numbers, attributes -------------------------------------------

MIXED_FILE = (
    "code,product,region\n"           # 1
    "U10000001,NANO-50,Kindia\n"      # 2 ok
    "  u10000002 ,NANO-50,Boké\n"     # 3 ok: lower-case u and spaces
    "U1000000,NANO-50,Kindia\n"       # 4 seven digits
    ",NANO-25,Labé\n"                 # 5 empty code
    "U10000001,NANO-50,Kindia\n"      # 6 duplicate of line 2
    "\n"                              # 7 blank: skipped, not counted
    "X10000003,NANO,Kankan\n"         # 8 another letter
    "U10000004,NANO\n"                # 9 a field missing
    '"U10000005","NANO ""50""",Mamou\n'  # 10 ok: quoted
    'U10000006,"two\nlines",Faranah\n'   # 11-12 ok: a quoted field over two lines
    "U 10000007,NANO,Siguiri\n"       # 13 the file format is strict
    "U10000008,NANO,Boffa,extra\n"    # 14 a field too many
    "U10000009,NANO,Dubréka"          # 15 ok, no final newline
)


def test_import_loads_good_rows_and_reports_bad_rows_with_their_line_numbers(app: Any) -> None:
    report = run_import(app, MIXED_FILE)
    assert (report.inserted, report.already_present, report.total_rows, report.error_count) == (5, 0, 12, 7)
    assert [error.line for error in report.errors] == [4, 5, 6, 8, 9, 13, 14]
    problems = {error.line: error.problem for error in report.errors}
    assert "malformed" in problems[4] and "malformed" in problems[8] and "malformed" in problems[13]
    assert problems[5] == "empty code"
    assert "duplicate" in problems[6]
    assert problems[9] == "expected 3 fields, found 2"
    assert problems[14] == "expected 3 fields, found 4"
    assert all("1000000" not in error.problem for error in report.errors)  # never echoes a code
    with app.app_context():
        assert code_registry.find_code("U10000002", KEY) is not None
        assert code_registry.find_code("U10000004", KEY) is None


def test_import_counts_rows_and_errors_consistently(app: Any) -> None:
    report = run_import(app, MIXED_FILE)
    assert report.total_rows == report.inserted + report.already_present + report.error_count


def test_extra_columns_are_stored_verbatim(app: Any) -> None:
    run_import(app, MIXED_FILE)
    with app.app_context():
        row = code_registry.find_code("U10000002", KEY)
        assert row is not None
        assert row.batch == "LOT-A"
        assert row.attributes == {"product": "NANO-50", "region": "Boké"}
        assert code_registry.find_code("U10000005", KEY).attributes == {"product": 'NANO "50"', "region": "Mamou"}
        assert code_registry.find_code("U10000006", KEY).attributes == {"product": "two\nlines", "region": "Faranah"}
        assert row.imported_at.tzinfo is not None and row.used_at is None and row.used_by is None


def test_without_extra_columns_attributes_are_sql_null(app: Any) -> None:
    run_import(app, "code\nU10000001\nU10000002\n")
    with app.app_context():
        assert db.session.scalar(text("SELECT count(*) FROM code WHERE attributes IS NULL")) == 2


def test_the_clear_code_is_stored_nowhere(app: Any) -> None:
    run_import(app, "code,product\nU10000001,NANO\n")
    with app.app_context():
        (row,) = db.session.execute(text("SELECT * FROM code")).all()
        stored = " ".join(str(value) for value in row)
        assert "10000001" not in stored
        assert code_registry.hash_code("U10000001", KEY) in stored


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_read_from_the_header(app: Any, delimiter: str) -> None:
    content = delimiter.join(["Produit", "CODE", "Région"]) + "\r\n" + delimiter.join(["NANO", "U10000001", "Kindia"]) + "\r\n"
    report = run_import(app, content)
    assert (report.inserted, report.error_count) == (1, 0)
    (row,) = all_codes(app)
    assert row.attributes == {"Produit": "NANO", "Région": "Kindia"}


def test_a_comma_inside_a_semicolon_header_does_not_mislead(app: Any) -> None:
    report = run_import(app, "code;produit, type\nU10000001;NANO, 50 kg\n")
    assert (report.inserted, report.error_count) == (1, 0)
    assert all_codes(app)[0].attributes == {"produit, type": "NANO, 50 kg"}


def test_a_file_with_only_a_header_imports_nothing(app: Any) -> None:
    report = run_import(app, "code,product\n")
    assert (report.total_rows, report.inserted, report.error_count) == (0, 0, 0)


def test_excel_french_file_with_bom_and_semicolons(app: Any) -> None:
    content = "\ufeffCode;Produit;Région\r\nU10000001;NANO 50 kg;Labé\r\nU10000002;NANO 25 kg;Kindia\r\n;;\r\n"
    report = run_import(app, content)
    assert (report.inserted, report.total_rows, report.error_count) == (2, 2, 0)  # ";;" is a blank row
    with app.app_context():
        assert code_registry.find_code("U10000001", KEY).attributes == {"Produit": "NANO 50 kg", "Région": "Labé"}


def test_a_batch_column_must_match_and_is_not_stored(app: Any) -> None:
    report = run_import(app, "code,batch\nU10000001,LOT-A\nU10000002,\nU10000003,LOT-B\n", batch="LOT-A")
    assert report.inserted == 2
    assert [(e.line, e.problem) for e in report.errors] == [
        (4, "the batch column says 'LOT-B', but the import is into 'LOT-A'")]
    assert [row.attributes for row in all_codes(app)] == [None, None]


@pytest.mark.parametrize(("content", "message"), [
    ("product,region\nNANO,Kindia\n", "no 'code' column"),
    ("codes\nU10000001\n", "no 'code' column"),
    ("", "empty"),
    ("\n\n", "empty"),
    ("code,Code\nU10000001,U10000002\n", "more than once"),
])
def test_unusable_files_raise_invalid_input(app: Any, content: str, message: str) -> None:
    with app.app_context(), pytest.raises(InvalidInput, match=message) as raised:
        code_registry.import_codes(io.StringIO(content), "LOT-A", KEY)
    assert raised.value.field == "file"
    assert count_codes(app) == 0


def test_a_file_that_is_not_utf8_raises_invalid_input(app: Any) -> None:
    stream = io.TextIOWrapper(io.BytesIO("code,région\nU10000001,Labé\n".encode("cp1252")), encoding="utf-8")
    with app.app_context(), pytest.raises(InvalidInput, match="not valid text"):
        code_registry.import_codes(stream, "LOT-A", KEY)


@pytest.mark.parametrize("batch", ["", " LOT", "LOT A", "x" * 65, "-LOT", "LOT/1"])
def test_batch_names_are_checked(app: Any, batch: str) -> None:
    with app.app_context(), pytest.raises(InvalidInput) as raised:
        code_registry.import_codes(io.StringIO("code\nU10000001\n"), batch, KEY)
    assert raised.value.field == "batch"


# --- import: idempotence, other batches, chunks ------------------------------------------

def test_reimporting_the_same_file_changes_nothing(app: Any) -> None:
    with freeze_time("2026-05-01 08:00:00"):
        first = run_import(app, MIXED_FILE)
    before = [(row.id, row.code_hash, row.batch, row.attributes, row.imported_at) for row in all_codes(app)]
    with freeze_time("2026-05-02 09:00:00"):
        again = run_import(app, MIXED_FILE)
    after = [(row.id, row.code_hash, row.batch, row.attributes, row.imported_at) for row in all_codes(app)]
    assert after == before
    assert {row[4] for row in after} == {datetime(2026, 5, 1, 8, 0, tzinfo=UTC)}
    assert (again.inserted, again.already_present, again.other_batches) == (0, first.inserted, {})
    assert [e.line for e in again.errors] == [e.line for e in first.errors]


def test_a_code_of_another_batch_is_reported_and_not_moved(app: Any) -> None:
    run_import(app, "code\nU10000001\nU10000002\n", batch="LOT-A")
    run_import(app, "code\nU10000003\n", batch="LOT-C")
    report = run_import(app, "code\nU10000001\nU10000002\nU10000003\nU10000004\n", batch="LOT-B")
    assert (report.inserted, report.already_present) == (1, 3)
    assert report.other_batches == {"LOT-A": 2, "LOT-C": 1}
    with app.app_context():
        assert code_registry.find_code("U10000001", KEY).batch == "LOT-A"
        assert code_registry.find_code("U10000004", KEY).batch == "LOT-B"


def test_chunks_add_up(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_registry, "CHUNK_SIZE", 3)
    run_import(app, "code\n" + "".join(f"U1000000{i}\n" for i in (1, 4, 8)), batch="LOT-A")
    content = "code\n" + "".join(f"U1000000{i}\n" for i in range(10)) + "U10000003\n"
    report = run_import(app, content, batch="LOT-B")
    assert (report.inserted, report.already_present, report.error_count, report.total_rows) == (7, 3, 1, 11)
    assert report.other_batches == {"LOT-A": 3}
    assert report.errors == [RowError(12, "DUPLICATE_IN_FILE")]
    assert report.errors[0].problem == "duplicate: the same code is on an earlier line of this file"
    assert count_codes(app) == 10


def test_the_error_list_is_capped_but_every_error_counted(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_registry, "MAX_ROW_ERRORS", 2)
    report = run_import(app, "code\n" + "bad\n" * 5 + "U10000001\n")
    assert (report.error_count, [e.line for e in report.errors], report.inserted) == (5, [2, 3], 1)


def test_the_same_codes_under_another_key_are_other_rows(app: Any) -> None:
    run_import(app, "code\nU10000001\n", key="key-one")
    report = run_import(app, "code\nU10000001\n", key="key-two", batch="LOT-B")
    assert report.inserted == 1
    with app.app_context():
        assert code_registry.find_code("U10000001", "key-one").batch == "LOT-A"
        assert code_registry.find_code("U10000001", "key-two").batch == "LOT-B"


# --- find_code and batch_stats ---------------------------------------------------------

def test_find_code(app: Any) -> None:
    run_import(app, "code\nU10000001\n")
    with app.app_context():
        row = code_registry.find_code("U10000001", KEY)
        assert row is not None and row.code_hash == code_registry.hash_code("U10000001", KEY)
        assert code_registry.find_code("u10000001", KEY) is row
        assert code_registry.find_code("U10000002", KEY) is None
        assert code_registry.find_code("U1000000", KEY) is None
        assert code_registry.find_code("U10000001", "another-key") is None


def test_batch_stats(app: Any) -> None:
    run_import(app, "code\nU10000001\nU10000002\nU10000003\n", batch="LOT-B")
    run_import(app, "code\nU20000001\nU20000002\n", batch="LOT-A")
    with app.app_context():
        assert code_registry.batch_stats() == [BatchStats("LOT-A", 2, 0), BatchStats("LOT-B", 3, 0)]
        row = code_registry.find_code("U10000002", KEY)
        row.used_by, row.used_at = "612345678", datetime.now(UTC)
        db.session.commit()
        assert code_registry.batch_stats() == [BatchStats("LOT-A", 2, 0), BatchStats("LOT-B", 3, 1)]


def test_batch_stats_of_an_empty_registry(app: Any) -> None:
    with app.app_context():
        assert code_registry.batch_stats() == []


# --- generate_codes --------------------------------------------------------------------

def test_generate_gives_count_distinct_well_formed_codes(app: Any) -> None:
    with app.app_context():
        generated = list(code_registry.generate_codes(7_000, KEY))  # more than one chunk
    assert len(generated) == 7_000
    assert len(set(generated)) == 7_000
    assert all(is_canonical(code) for code in generated)


def test_generated_codes_are_not_sequential_and_look_uniform(app: Any) -> None:
    n = 20_000
    with app.app_context():
        numbers = [code_number(code) for code in code_registry.generate_codes(n, KEY)]
    ordered = sorted(numbers)
    gaps = {b - a for a, b in zip(ordered, ordered[1:], strict=False)}
    assert len(gaps) > n // 10  # far from an arithmetic progression (1 gap value)
    ascending = sum(a < b for a, b in zip(numbers, numbers[1:], strict=False))
    assert 0.45 < ascending / (n - 1) < 0.55  # drawn in no order
    # Uniform on [0, 10^8): mean within 6 standard errors, every digit position balanced.
    assert abs(statistics.fmean(numbers) - (KEYSPACE - 1) / 2) < 6 * (KEYSPACE / 12**0.5) / n**0.5
    for position in range(8):
        counts = [0] * 10
        for number in numbers:
            counts[number // 10**position % 10] += 1
        chi2 = sum((c - n / 10) ** 2 / (n / 10) for c in counts)
        assert chi2 < 45, (position, counts)  # 9 degrees of freedom; p < 1e-6


def test_generate_avoids_codes_in_the_registry_and_repeats(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run_import(app, "code\nU00000001\nU00000002\nU00000003\nU00000005\n", batch="LOT-OLD")
    draws = iter([1, 2, 3, 4, 4, 5, 6, 1, 6, 7, 99])
    monkeypatch.setattr(code_registry.secrets, "randbelow", lambda upper: next(draws))
    with app.app_context():
        assert list(code_registry.generate_codes(3, KEY)) == ["U00000004", "U00000006", "U00000007"]


def test_generate_uses_the_csprng(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_randbelow(upper: int) -> int:
        calls.append(upper)
        return 42 + len(calls)

    monkeypatch.setattr(code_registry.secrets, "randbelow", fake_randbelow)
    with app.app_context():
        assert list(code_registry.generate_codes(2, KEY)) == ["U00000043", "U00000044"]
    assert calls == [KEYSPACE, KEYSPACE]


@pytest.mark.parametrize("count", [0, -1, code_registry.MAX_GENERATE + 1])
def test_generate_checks_the_count(app: Any, count: int) -> None:
    with app.app_context(), pytest.raises(InvalidInput) as raised:
        code_registry.generate_codes(count, KEY)
    assert raised.value.field == "count"


def test_generate_refuses_to_fill_the_keyspace(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_registry, "MAX_ISSUED", 5)
    run_import(app, "code\nU00000001\nU00000002\nU00000003\n")
    with app.app_context():
        assert len(list(code_registry.generate_codes(2, KEY))) == 2
        with pytest.raises(InvalidInput, match="guessable"):
            code_registry.generate_codes(3, KEY)
