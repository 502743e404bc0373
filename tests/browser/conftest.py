"""Real-browser fixtures: Debian's Chromium driven by Playwright for Python.

Nothing is downloaded: the browser is the system one (``/usr/bin/chromium``, apt
package ``chromium``; ``ROKO_CHROMIUM`` names another). Without it, or without the
``playwright`` package, these tests are skipped locally and **fail** under ``CI=true``.
One browser per session; each test gets a fresh context (cookies, storage). The app runs
under gunicorn on a loopback port (``console_server``, from the ``live_server`` fixture),
or, for pages that only read, in a werkzeug server thread shared by a module
(``reading_server``: no process to start per test).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from roko_app import create_app
from tests.factories import make_user
from tests.helpers import IN_CI, PHONE, base_config, checked_page, wipe_database

CHROMIUM = os.environ.get("ROKO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; under CI the browser tests must run (.ci/run installs the chromium package)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -r requirements-dev.txt)")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def console_server(live_server: Callable[..., str], make_app: Callable[..., Any]) -> str:
    """The app under gunicorn with an operator and a viewer; returns its base URL."""
    app = make_app()
    make_user(app, "operator@roko.test", "operator")
    make_user(app, "viewer@roko.test", "viewer")
    return live_server(workers=1, threads=4)


@pytest.fixture(scope="module")
def reading_server(_migrated: str) -> Iterator[str]:
    """The app in a werkzeug server thread, with an operator, for a module of tests that
    only read (and log in); rows are wiped when the module is done."""
    app = create_app(base_config(_migrated, LOG_LEVEL="WARNING"))
    make_user(app, "operator@roko.test", "operator")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="reading-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        wipe_database(app)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a fresh context; fails the test on any script error or console error."""
    with checked_page(browser, viewport=PHONE) as tab:
        yield tab
