"""The code registry: keyed hashes of the codes printed on bags, imported by batch.

A code is stored only as ``HMAC-SHA256(CODE_KEY, code)`` (:func:`hash_code`), so a copy
of the database does not reveal unused codes. Nothing here logs a code.

Import files (:func:`import_codes`) are CSV made by a machine or by Excel:

- a header row names the columns; a ``code`` column is required (any case); the
  delimiter is read from the header line (``,``, ``;`` as Excel writes in French
  locales, or a tab); a UTF-8 BOM is ignored;
- codes must be ``U`` or ``u`` + 8 digits, surrounding spaces allowed; nothing else
  (the tolerant grammar of :mod:`roko_app.sms.parsing` is for what farmers type);
- a ``batch`` column, if any, must be empty or name the batch being imported (so the
  wrong file is not loaded into the wrong batch); it is not stored;
- other columns (product, region, ...) are stored verbatim in ``attributes`` (None
  when the file has no other column); columns with an empty header are ignored;
- a row with a bad code, an empty code, a code already seen earlier in the file, a
  wrong field count or another batch is reported with its line number (the header is
  line 1) and skipped; every other row is loaded. Blank lines are skipped silently;
- a code already in the registry, in this batch (a re-import) or in another one, is
  left as it is (``ON CONFLICT DO NOTHING``) and counted as already present.

The file is streamed and inserted in chunks of :data:`CHUNK_SIZE` rows (each chunk is
sorted by hash, so row ids do not follow the file's order); duplicates within the file
are found with a bitmap of the whole keyspace (12.5 MB whatever the file size).
Services never commit: the caller commits once per import, so an import that fails
half-way leaves nothing behind. A 1,000,000-row file costs about 30 s of CPU on SQLite
and adds about 20 MB to the process (the bitmap and one chunk), whatever its size.
"""

from __future__ import annotations

import csv
import hmac
import logging
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, TextIO

from sqlalchemy import bindparam, func, select

from roko_app.database.dialect import insert_for
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Code
from roko_app.services.errors import InvalidInput
from roko_app.sms.parsing import KEYSPACE, canonical_code, code_number, format_code, is_canonical

log = logging.getLogger(__name__)

CHUNK_SIZE = 5_000
# Row errors kept in a report (all are counted): bounds memory on a file of garbage.
MAX_ROW_ERRORS = 1_000
# Codes one `generate` may draw, and the most the registry may hold after it: beyond
# 10 % of the 10^8 keyspace a blind guess would succeed more than once in ten.
MAX_GENERATE = 5_000_000
MAX_ISSUED = KEYSPACE // 10
BATCH_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DELIMITERS = (",", ";", "\t")


# A bad row's problem: its code, and the English sentence of the CLI and the logs (the
# console has its own words for each code, in console/labels.py).
ROW_PROBLEMS = {
    "FIELD_COUNT": "expected {expected} fields, found {found}",
    "OTHER_BATCH": "the batch column says {named!r}, but the import is into {batch!r}",
    "EMPTY_CODE": "empty code",
    "MALFORMED_CODE": "malformed code: expected U followed by 8 digits",
    "DUPLICATE_IN_FILE": "duplicate: the same code is on an earlier line of this file",
}


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # 1-based line of the file (the header is line 1)
    code: str  # a key of ROW_PROBLEMS; nothing here contains the code read
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def problem(self) -> str:
        return ROW_PROBLEMS[self.code].format(**self.params)


@dataclass(slots=True)
class ImportReport:
    batch: str
    inserted: int = 0
    already_present: int = 0
    # The first MAX_ROW_ERRORS bad rows; error_count counts them all.
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    total_rows: int = 0  # data rows read (blank lines excluded)
    # Of the already-present codes, how many belong to each other batch (not moved).
    other_batches: dict[str, int] = field(default_factory=dict)

    def add_error(self, line: int, code: str, **params: Any) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ROW_ERRORS:
            self.errors.append(RowError(line, code, params))


@dataclass(frozen=True, slots=True)
class BatchStats:
    batch: str
    issued: int
    used: int


def hash_code(code: str, key: str) -> str:
    """HMAC-SHA256 of the canonical ``code`` under ``key``, as 64 hex digits."""
    if not key:
        raise ValueError("the code key is empty")
    if not is_canonical(code):
        raise ValueError("not a canonical code (U + 8 digits)")
    return hmac.digest(key.encode("utf-8"), code.encode("ascii"), "sha256").hex()


def find_code(code: str, key: str) -> Code | None:
    """The registry row of ``code`` (``U``/``u`` + 8 digits), or None."""
    canonical = canonical_code(code)
    if canonical is None:
        return None
    return db.session.scalars(select(Code).where(Code.code_hash == hash_code(canonical, key))).one_or_none()


def check_batch(batch: str) -> str:
    if not BATCH_PATTERN.fullmatch(batch):
        raise InvalidInput("batch", "A batch name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
                           problem="CODES_BATCH_NAME")
    return batch


# --- import ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Columns:
    delimiter: str
    width: int
    code: int
    batch: int | None
    extras: tuple[tuple[int, str], ...]  # (index, header as written)


def import_codes(stream: TextIO, batch: str, key: str) -> ImportReport:
    """Load the codes of a CSV ``stream`` into ``batch`` (see the module docstring).

    Raises :class:`InvalidInput` when the file itself is unusable (empty, no ``code``
    column, duplicate column names, not decodable, broken CSV); row problems are in the
    report instead.
    """
    check_batch(batch)
    if not key:
        raise ValueError("the code key is empty")
    report = ImportReport(batch)
    try:
        columns = _read_header(stream)
        _load_rows(stream, columns, batch, key, report)
    except UnicodeDecodeError as exc:
        raise InvalidInput("file", f"The file is not valid text in the expected encoding ({exc.reason}).",
                           problem="CODES_FILE_NOT_TEXT", reason=exc.reason) from None
    log.info("codes imported into batch %r: %d rows, %d inserted, %d already present, %d bad",
             batch, report.total_rows, report.inserted, report.already_present, report.error_count)
    return report


def _read_header(stream: TextIO) -> _Columns:
    line = stream.readline().lstrip("\ufeff")
    if not line.strip():
        raise InvalidInput("file", "The file is empty: expected a header row naming a 'code' column.",
                           problem="CODES_FILE_EMPTY")
    # The delimiter: the most frequent of , ; tab in the header line whose split yields a
    # 'code' column (so "code;produit, type" is still read with ';').
    by_count = sorted(_DELIMITERS, key=line.count, reverse=True)
    delimiter = next((d for d in by_count if "code" in _header_names(line, d)), by_count[0])
    names = [name.strip() for name in next(csv.reader([line], delimiter=delimiter))]
    folded = [name.casefold() for name in names]
    duplicates = sorted({name for name in folded if name and folded.count(name) > 1})
    if duplicates:
        raise InvalidInput("file", f"The header names these columns more than once: {', '.join(duplicates)}.",
                           problem="CODES_DUPLICATE_COLUMNS", columns=", ".join(duplicates))
    if "code" not in folded:
        raise InvalidInput("file", f"The header has no 'code' column (columns: {', '.join(names) or 'none'};"
                                   f" delimiter {delimiter!r}).", problem="CODES_NO_CODE_COLUMN",
                           columns=", ".join(names), delimiter=delimiter)
    batch_index = folded.index("batch") if "batch" in folded else None
    extras = tuple((i, name) for i, name in enumerate(names) if name and folded[i] not in ("code", "batch"))
    return _Columns(delimiter, len(names), folded.index("code"), batch_index, extras)


def _header_names(line: str, delimiter: str) -> list[str]:
    return [name.strip().casefold() for name in next(csv.reader([line], delimiter=delimiter))]


def _load_rows(stream: TextIO, columns: _Columns, batch: str, key: str, report: ImportReport) -> None:
    seen = bytearray(KEYSPACE // 8)  # one bit per possible code: duplicates within the file
    key_bytes = key.encode("utf-8")
    now = utcnow()
    chunk: list[dict[str, Any]] = []
    reader = csv.reader(stream, delimiter=columns.delimiter)
    previous_line = 0
    try:
        for fields in reader:
            line = previous_line + 2  # the reader starts after the header (line 1)
            previous_line = reader.line_num
            if not "".join(fields).strip():
                continue  # blank line, or only delimiters (Excel)
            report.total_rows += 1
            problem, code = _check_row(fields, columns, batch)
            if code is None:
                report.add_error(line, problem[0], **problem[1])
                continue
            byte, bit = divmod(code_number(code), 8)
            if seen[byte] & (1 << bit):
                report.add_error(line, "DUPLICATE_IN_FILE")
                continue
            seen[byte] |= 1 << bit
            row: dict[str, Any] = {"code_hash": hmac.digest(key_bytes, code.encode("ascii"), "sha256").hex()}
            if columns.extras:
                row["attributes"] = {name: fields[i] for i, name in columns.extras}
            chunk.append(row)
            if len(chunk) >= CHUNK_SIZE:
                _insert_chunk(chunk, batch, now, report)
                chunk = []
    except csv.Error as exc:
        raise InvalidInput("file", f"The file is not readable as CSV near line {reader.line_num + 1}: {exc}.",
                           problem="CODES_NOT_CSV", line=reader.line_num + 1, reason=str(exc)) from None
    if chunk:
        _insert_chunk(chunk, batch, now, report)


def _check_row(fields: list[str], columns: _Columns,
               batch: str) -> tuple[tuple[str, dict[str, Any]], None] | tuple[None, str]:
    """((problem code, its parameters), None) for a bad row, else (None, canonical code)."""
    if len(fields) != columns.width:
        return ("FIELD_COUNT", {"expected": columns.width, "found": len(fields)}), None
    if columns.batch is not None:
        named = fields[columns.batch].strip()
        if named and named != batch:
            return ("OTHER_BATCH", {"named": named[:64], "batch": batch}), None
    raw = fields[columns.code]
    if not raw.strip():
        return ("EMPTY_CODE", {}), None
    code = canonical_code(raw)
    if code is None:
        return ("MALFORMED_CODE", {}), None
    return None, code


def _insert_chunk(rows: list[dict[str, Any]], batch: str, now: datetime, report: ImportReport) -> None:
    session = db.session
    rows.sort(key=itemgetter("code_hash"))  # neighbouring keys: fewer index pages touched per chunk
    table = Code.__table__
    stmt = (
        insert_for(session, table)
        .values(batch=batch, imported_at=now)  # the same for every row: bound once per statement
        .on_conflict_do_nothing(index_elements=["code_hash"])
        .returning(table.c.code_hash)
    )
    inserted = set(session.scalars(stmt, rows))
    report.inserted += len(inserted)
    if len(inserted) == len(rows):
        return
    present = [row["code_hash"] for row in rows if row["code_hash"] not in inserted]
    report.already_present += len(present)
    # The hashes are an execution parameter, not part of the statement: statements sit in
    # reference cycles until a full garbage collection, and would keep 5,000 hashes alive each.
    elsewhere = session.execute(
        select(Code.batch, func.count())
        .where(Code.code_hash.in_(bindparam("hashes", expanding=True)), Code.batch != batch)
        .group_by(Code.batch),
        {"hashes": present},
    )
    for other, count in elsewhere:
        report.other_batches[other] = report.other_batches.get(other, 0) + count


# --- generation --------------------------------------------------------------------------

def generate_codes(count: int, key: str) -> Iterator[str]:
    """``count`` distinct new codes, drawn uniformly with :mod:`secrets`.

    Codes already in the registry (looked up by hash, a chunk at a time) are skipped, so
    every code yielded can be imported. Lazy: the caller streams them to a file, inside
    the app context (the look-ups run while it iterates). ``count`` and the registry's
    size are checked at the call, before the first code is drawn.
    """
    if not 1 <= count <= MAX_GENERATE:
        raise InvalidInput("count", f"The number of codes to generate must be between 1 and {MAX_GENERATE:,}.")
    if not key:
        raise ValueError("the code key is empty")
    issued = db.session.scalar(select(func.count()).select_from(Code)) or 0
    if issued + count > MAX_ISSUED:
        raise InvalidInput("count", f"The registry holds {issued:,} codes; with {count:,} more it would pass"
                                    f" {MAX_ISSUED:,} (10 % of all possible codes), which makes codes guessable.")
    return _generate(count, key)


def _draw_number() -> int:
    return secrets.randbelow(KEYSPACE)


def _generate(count: int, key: str) -> Iterator[str]:
    seen = bytearray(KEYSPACE // 8)
    remaining = count
    while remaining:
        candidates: dict[str, str] = {}  # hash -> code, in draw order
        while len(candidates) < min(remaining, CHUNK_SIZE):
            number = _draw_number()
            byte, bit = divmod(number, 8)
            if seen[byte] & (1 << bit):
                continue
            seen[byte] |= 1 << bit
            code = format_code(number)
            candidates[hash_code(code, key)] = code
        taken = set(db.session.scalars(
            select(Code.code_hash).where(Code.code_hash.in_(bindparam("hashes", expanding=True))),
            {"hashes": list(candidates)},
        ))
        for digest, code in candidates.items():
            if digest not in taken:
                remaining -= 1
                yield code


# --- statistics --------------------------------------------------------------------------

def batch_stats() -> list[BatchStats]:
    """Codes issued and used per batch, by batch name."""
    rows = db.session.execute(
        select(Code.batch, func.count(Code.id), func.count(Code.used_at)).group_by(Code.batch).order_by(Code.batch)
    )
    return [BatchStats(batch, issued, used) for batch, issued, used in rows]
