"""`flask --app wsgi roko ...` commands."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import ApiKey
from roko_app.services import api_keys


def test_api_key_create_prints_the_key_once_as_last_line_and_stores_only_a_hash(app: Any, runner: Any) -> None:
    result = runner.invoke(args=["roko", "api-key", "create", "ops-dashboard"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("roko_") and len(key) > 40
    with app.app_context():
        (row,) = db.session.scalars(select(ApiKey))
        assert row.name == "ops-dashboard"
        assert key not in (row.key_hash, row.key_prefix)
        assert row.key_hash == api_keys.hash_key(key)
        assert api_keys.authenticate(key) is not None
    listing = runner.invoke(args=["roko", "api-key", "list"]).output
    assert "ops-dashboard" in listing and "active" in listing
    assert key not in listing


def test_api_key_names_are_unique_and_checked(runner: Any) -> None:
    assert runner.invoke(args=["roko", "api-key", "create", "ops"]).exit_code == 0
    again = runner.invoke(args=["roko", "api-key", "create", "ops"])
    assert again.exit_code != 0 and "exists already" in again.output
    bad = runner.invoke(args=["roko", "api-key", "create", "no spaces please"])
    assert bad.exit_code != 0 and "caller name" in bad.output


def test_api_key_revoke(app: Any, runner: Any) -> None:
    key = runner.invoke(args=["roko", "api-key", "create", "ops"]).output.strip().splitlines()[-1]
    result = runner.invoke(args=["roko", "api-key", "revoke", "ops"])
    assert result.exit_code == 0 and "Revoked" in result.output
    with app.app_context():
        assert api_keys.authenticate(key) is None
    assert "revoked" in runner.invoke(args=["roko", "api-key", "list"]).output
    missing = runner.invoke(args=["roko", "api-key", "revoke", "nobody"])
    assert missing.exit_code != 0 and "No API key named" in missing.output


def test_last_used_is_refreshed_at_most_once_a_minute(app: Any) -> None:
    from freezegun import freeze_time

    with app.app_context():
        with freeze_time("2026-05-15 10:00:00"):
            row, key = api_keys.create("ops")
            db.session.commit()
            api_keys.authenticate(key)
            first = row.last_used_at
        with freeze_time("2026-05-15 10:00:30"):
            api_keys.authenticate(key)
            assert row.last_used_at == first
        with freeze_time("2026-05-15 10:01:00"):
            api_keys.authenticate(key)
            assert row.last_used_at > first


def test_dev_seed_registers_the_demo_key_only_in_dev(make_app: Any) -> None:
    test_app = make_app()
    refused = test_app.test_cli_runner().invoke(args=["roko", "dev-seed"])
    assert refused.exit_code != 0 and "ROKO_ENV=dev" in refused.output
    dev_app = make_app(ENV="dev")
    for _ in range(2):  # idempotent
        assert dev_app.test_cli_runner().invoke(args=["roko", "dev-seed"]).exit_code == 0
    with dev_app.app_context():
        assert api_keys.authenticate(dev_app.config["DEV_DEMO_API_KEY"]).name == "demo"
        from roko_app.cli.dev import DEMO_CODES
        from roko_app.services.code_registry import find_code

        assert all(find_code(code, dev_app.config["CODE_KEY"]).batch == "DEMO" for code in DEMO_CODES)
        from roko_app.services import accounts

        admin = accounts.authenticate("admin@roko.local", dev_app.config["DEV_DEMO_PASSWORD"], "127.0.0.1",
                                      accounts.LoginPolicy())
        assert admin is not None and admin.role == "admin"


def test_show_config_hides_the_database_password(make_app: Any) -> None:
    app = make_app()
    app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://roko:hunter2@db:5432/roko"
    output = app.test_cli_runner().invoke(args=["roko", "show-config"]).output
    assert "hunter2" not in output and "env: test" in output
