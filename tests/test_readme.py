"""The README's first examples, followed in order against `make run` on a fresh database,
answer what the README shows (issue 13: its inject example answered "déjà enregistré"
because the webhook example before it had used the same code).

`make run`'s steps run for real (db upgrade, dev-seed, scripts/run_dev.py on free ports);
each `curl` command of the README's "The two commands" section is sent as written, once
the worker has caught up with the previous one, and its answer compared with the line
the README shows after it (``...`` leaves parts out; a remark in parentheses is ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roko_app.cli.dev import DEMO_CODES
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## The two commands", 1)[1].split("\n## ", 1)[0]


def examples() -> list[tuple[list[str], str]]:
    """(curl's arguments, the answer shown after it) of each command of the section, in order."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", SECTION, re.S):
        lines = block.replace("\\\n", " ").splitlines()
        for line, following in zip(lines, [*lines[1:], ""], strict=True):
            if line.startswith("curl "):
                found.append((shlex.split(line), following[2:] if following.startswith("# ") else ""))
    return found


def as_request(args: list[str], web: int, sim: int) -> urllib.request.Request:
    method, url, headers, data = "GET", "", {}, None
    words = iter(args[1:])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, value = next(words).split(": ", 1)
            headers[name] = value
        elif word == "-d":
            data = next(words).encode()
        elif not word.startswith("-"):
            url = word.replace("127.0.0.1:5000", f"127.0.0.1:{web}").replace("127.0.0.1:8025", f"127.0.0.1:{sim}")
    return urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 (loopback)


def answers_as_shown(shown: str, body: str) -> bool:
    shown = shown.split("   (", 1)[0].strip()
    try:
        return bool(json.loads(shown) == json.loads(body))
    except ValueError:  # parts left out with "..."
        return all(piece.strip() in body for piece in shown.split("...") if piece.strip())


def caught_up(database: Path) -> bool:
    """Every stored SMS classified and every queued message handed to the gateway."""
    with sqlite3.connect(database) as connection:
        waiting = connection.execute("SELECT (SELECT count(*) FROM inbound_sms WHERE classified_at IS NULL) + "
                                     "(SELECT count(*) FROM outbound_sms WHERE status IN ('QUEUED', 'SENDING'))")
        return bool(waiting.fetchone()[0] == 0)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """`make run`'s three steps on a fresh SQLite file; yields (web port, simulator port, file)."""
    web, sim, database = free_port(), free_port(), tmp_path / "dev.db"
    env = {**os.environ, "ROKO_ENV": "dev", "ROKO_DATABASE_URL": f"sqlite:///{database}",
           "ROKO_DEV_WEB_PORT": str(web), "ROKO_DEV_SIMULATOR_PORT": str(sim)}
    for step in (["db", "upgrade"], ["roko", "dev-seed"]):
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *step], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=180)
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "scripts/run_dev.py"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "ROKO is running" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
            time.sleep(0.3)
        yield web, sim, database
    finally:
        with_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            with_group(proc, signal.SIGKILL)


def with_group(proc: Any, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)  # run_dev.py and the three processes it started


def test_the_examples_are_the_ones_issue_13_asked_for() -> None:
    commands = [" ".join(args) for args, _ in examples()]
    assert len(commands) == 5
    webhook, inject = commands[0], commands[3]
    assert "ROKO U12345678" in webhook and "ROKO U11111111" in inject  # another code, one the seed registers
    assert {"U12345678", "U11111111"} <= set(DEMO_CODES)
    assert "x-api-key: roko_dev-demo-key-not-for-production" in commands[2]
    assert "API key `demo`" not in README and SECTION.count("`POST /control`") == 1
    assert "`template_key` is optional" in SECTION


def test_the_examples_answer_what_the_readme_shows(make_run: tuple[int, int, Path]) -> None:
    web, sim, database = make_run
    for args, shown in examples():
        assert shown, f"no answer shown after {' '.join(args)}"
        deadline = time.monotonic() + 60
        while not caught_up(database):
            assert time.monotonic() < deadline, "the worker did not catch up"
            time.sleep(0.2)
        request = as_request(args, web, sim)
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
                    body = response.read().decode()
            except urllib.error.HTTPError as error:
                body = error.read().decode()
            if answers_as_shown(shown, body) or request.get_method() != "GET" or time.monotonic() > deadline:
                break
            time.sleep(0.3)  # "a moment later": the reply is on its way to the simulator
        assert answers_as_shown(shown, body), (" ".join(args), shown, body)
