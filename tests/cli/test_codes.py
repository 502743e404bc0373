"""`flask --app wsgi roko codes ...`: import, generate, stats."""

from __future__ import annotations

import csv
import re
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from roko_app.extensions import db
from roko_app.models import Code
from roko_app.services import code_registry

CODE_RE = re.compile(r"[Uu]\d{8}")


def count_codes(app: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Code)) or 0


def write(path: Path, content: str, encoding: str = "utf-8") -> Path:
    path.write_text(content, encoding=encoding, newline="")
    return path


def test_import_prints_a_summary_and_the_bad_rows(app: Any, runner: Any, tmp_path: Path) -> None:
    file = write(tmp_path / "lot.csv", "code;produit\nU10000001;NANO\nU1000000;NANO\n;NANO\nU10000001;NANO\nu10000002;NANO\n")
    result = runner.invoke(args=["roko", "codes", "import", str(file), "--batch", "LOT-A"])
    assert result.exit_code == 0, result.output
    assert "5 rows, 2 inserted, 0 already present, 3 bad" in result.output
    assert "line 3: malformed code" in result.output
    assert "line 4: empty code" in result.output
    assert "line 5: duplicate" in result.output
    assert not CODE_RE.search(result.output)  # codes are never printed
    assert count_codes(app) == 2
    with app.app_context():
        assert code_registry.find_code("U10000002", app.config["CODE_KEY"]).attributes == {"produit": "NANO"}

    again = runner.invoke(args=["roko", "codes", "import", str(file), "--batch", "LOT-B"])
    assert again.exit_code == 0, again.output
    assert "0 inserted, 2 already present" in again.output
    assert "Already present in other batches (left there): LOT-A: 2." in again.output
    assert count_codes(app) == 2


def test_import_caps_the_list_of_bad_rows(runner: Any, tmp_path: Path) -> None:
    file = write(tmp_path / "bad.csv", "code\n" + "nope\n" * 30)
    result = runner.invoke(args=["roko", "codes", "import", str(file), "--batch", "LOT-A"])
    assert result.exit_code == 0, result.output
    assert "30 bad" in result.output
    assert "line 21: malformed" in result.output and "line 22:" not in result.output
    assert "... and 10 more bad rows." in result.output


def test_import_fails_on_an_unusable_file(app: Any, runner: Any, tmp_path: Path) -> None:
    missing = runner.invoke(args=["roko", "codes", "import", str(tmp_path / "nope.csv"), "--batch", "LOT-A"])
    assert missing.exit_code != 0 and "does not exist" in missing.output
    no_code = write(tmp_path / "no-code.csv", "produit,region\nNANO,Kindia\n")
    result = runner.invoke(args=["roko", "codes", "import", str(no_code), "--batch", "LOT-A"])
    assert result.exit_code == 1 and "no 'code' column" in result.output
    bad_batch = write(tmp_path / "ok.csv", "code\nU10000001\n")
    result = runner.invoke(args=["roko", "codes", "import", str(bad_batch), "--batch", "LOT A"])
    assert result.exit_code == 1 and "batch name" in result.output
    assert count_codes(app) == 0


def test_import_of_a_cp1252_file_needs_its_encoding(app: Any, runner: Any, tmp_path: Path) -> None:
    file = write(tmp_path / "excel.csv", "code;région\r\nU10000001;Labé\r\n", encoding="cp1252")
    result = runner.invoke(args=["roko", "codes", "import", str(file), "--batch", "LOT-A"])
    assert result.exit_code == 1 and "not valid text" in result.output
    assert count_codes(app) == 0
    result = runner.invoke(args=["roko", "codes", "import", str(file), "--batch", "LOT-A", "--encoding", "cp1252"])
    assert result.exit_code == 0 and "1 inserted" in result.output
    with app.app_context():
        assert code_registry.find_code("U10000001", app.config["CODE_KEY"]).attributes == {"région": "Labé"}
    unknown = runner.invoke(args=["roko", "codes", "import", str(file), "--batch", "LOT-A", "--encoding", "klingon"])
    assert unknown.exit_code == 1 and "Unknown encoding" in unknown.output


def test_generate_writes_the_file_and_registers_the_codes(app: Any, runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "lot-7.csv"
    result = runner.invoke(args=["roko", "codes", "generate", "--count", "250", "--batch", "LOT-7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not CODE_RE.search(result.output)
    assert "store it safely" in result.output
    assert "250 rows, 250 inserted, 0 already present, 0 bad" in result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert not (tmp_path / "lot-7.csv.partial").exists()
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["code", "batch"]
    assert len(rows) == 251 and {batch for _, batch in rows[1:]} == {"LOT-7"}
    codes = [code for code, _ in rows[1:]]
    assert len(set(codes)) == 250 and all(CODE_RE.fullmatch(code) and code.startswith("U") for code in codes)
    with app.app_context():
        key = app.config["CODE_KEY"]
        found = [code_registry.find_code(code, key) for code in codes]
        assert all(row is not None and row.batch == "LOT-7" and row.attributes is None for row in found)
    stats = runner.invoke(args=["roko", "codes", "stats"])
    assert "LOT-7" in stats.output and "250" in stats.output


def test_generate_without_import_only_writes_the_file(app: Any, runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "lot.csv"
    result = runner.invoke(args=["roko", "codes", "generate", "--count", "20", "--batch", "LOT-8", "--out", str(out),
                                 "--no-import"])
    assert result.exit_code == 0, result.output
    assert "Not registered yet" in result.output
    assert count_codes(app) == 0
    later = runner.invoke(args=["roko", "codes", "import", str(out), "--batch", "LOT-8"])
    assert later.exit_code == 0 and "20 inserted" in later.output
    assert count_codes(app) == 20


def test_generate_refuses_bad_input_and_never_overwrites(app: Any, runner: Any, tmp_path: Path) -> None:
    existing = write(tmp_path / "printed.csv", "code,batch\nU10000001,LOT-1\n")
    result = runner.invoke(args=["roko", "codes", "generate", "--count", "5", "--batch", "LOT-1", "--out", str(existing)])
    assert result.exit_code == 1 and "exists already" in result.output
    assert existing.read_text() == "code,batch\nU10000001,LOT-1\n"
    out = tmp_path / "new.csv"
    for args, message in ((["--count", "0", "--batch", "LOT-1"], "between 1 and"),
                          (["--count", "5", "--batch", "bad batch"], "batch name")):
        result = runner.invoke(args=["roko", "codes", "generate", *args, "--out", str(out)])
        assert result.exit_code == 1 and message in result.output
    assert not out.exists() and not (tmp_path / "new.csv.partial").exists()
    assert count_codes(app) == 0


def test_a_failed_import_leaves_neither_file_nor_codes(app: Any, runner: Any, tmp_path: Path) -> None:
    def database_went_away(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CODE "):
            raise RuntimeError("database went away")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", database_went_away)
    out = tmp_path / "lot.csv"
    try:
        result = runner.invoke(args=["roko", "codes", "generate", "--count", "5", "--batch", "LOT-1", "--out", str(out)])
    finally:
        event.remove(engine, "before_cursor_execute", database_went_away)
    assert result.exit_code != 0
    assert not out.exists() and not (tmp_path / "lot.csv.partial").exists()
    assert count_codes(app) == 0


def test_stats(app: Any, runner: Any, tmp_path: Path) -> None:
    empty = runner.invoke(args=["roko", "codes", "stats"])
    assert empty.exit_code == 0 and "No codes in the code_registry." in empty.output
    runner.invoke(args=["roko", "codes", "import", str(write(tmp_path / "a.csv", "code\nU10000001\nU10000002\n")),
                        "--batch", "LOT-A"])
    runner.invoke(args=["roko", "codes", "import", str(write(tmp_path / "b.csv", "code\nU20000001\n")), "--batch", "LOT-B"])
    with app.app_context():
        from roko_app.database.types import utcnow

        row = code_registry.find_code("U10000001", app.config["CODE_KEY"])
        row.used_by, row.used_at = "612345678", utcnow()
        db.session.commit()
    result = runner.invoke(args=["roko", "codes", "stats"])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.strip().splitlines()]
    assert lines == [["batch", "issued", "used", "used", "%"], ["LOT-A", "2", "1", "50.0%"], ["LOT-B", "1", "0", "0.0%"],
                     ["total", "3", "1", "33.3%"]]
