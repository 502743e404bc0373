"""Configuration: defaults, ROKO_* variables, refusal to start without secrets."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from roko_app import ConfigError, create_app
from roko_app.configuration import parse_ports
from roko_app.extensions import db

PROD_SECRETS = {"SECRET_KEY": "s3cret", "WEBHOOK_INBOUND_TOKEN": "t0ken", "TOPAZ_URL": "http://gw.internal:8080",
                "TOPAZ_TOKEN": "gw-token", "CODE_KEY": "k3y",
                "OPTIMOVE_API_KEY": "om-key", "OPTIMOVE_HMAC_SECRET": "om-secret"}


@pytest.mark.parametrize("env", ["stage", "prod"])
@pytest.mark.parametrize("missing", ["SECRET_KEY", "WEBHOOK_INBOUND_TOKEN", "TOPAZ_URL", "TOPAZ_TOKEN", "CODE_KEY",
                                     "OPTIMOVE_API_KEY", "OPTIMOVE_HMAC_SECRET"])
def test_stage_and_prod_refuse_to_start_without_a_secret(env: str, missing: str, monkeypatch: Any) -> None:
    for var in ("ROKO_SECRET_KEY", "ROKO_WEBHOOK_INBOUND_TOKEN", "ROKO_TOPAZ_URL", "ROKO_TOPAZ_TOKEN", "ROKO_CODE_KEY",
                "ROKO_OPTIMOVE_API_KEY", "ROKO_OPTIMOVE_HMAC_SECRET"):
        monkeypatch.delenv(var, raising=False)
    config = {"ENV": env, "DATABASE_URL": "sqlite://", **PROD_SECRETS}
    config[missing] = ""
    with pytest.raises(ConfigError, match=f"ROKO_{missing}") as info:
        create_app(config)
    assert f"ROKO_ENV={env}" in str(info.value)


def test_prod_starts_with_its_secrets_and_uses_them() -> None:
    app = create_app({"ENV": "prod", "DATABASE_URL": "sqlite://", **PROD_SECRETS})
    assert app.config["WEBHOOK_INBOUND_TOKEN"] == "t0ken"
    assert app.config["SECRET_KEY"] == "s3cret"


def test_dev_falls_back_to_dev_secrets(monkeypatch: Any) -> None:
    monkeypatch.delenv("ROKO_WEBHOOK_INBOUND_TOKEN", raising=False)
    app = create_app({"ENV": "dev", "DATABASE_URL": "sqlite://"})
    assert app.config["WEBHOOK_INBOUND_TOKEN"] == "dev-inbound-token"


def test_environment_variables_are_read_with_the_roko_prefix(monkeypatch: Any) -> None:
    monkeypatch.setenv("ROKO_ENV", "prod")
    monkeypatch.setenv("ROKO_SECRET_KEY", "12345")  # JSON-looking values stay strings
    monkeypatch.setenv("ROKO_WEBHOOK_INBOUND_TOKEN", "from-env")
    monkeypatch.setenv("ROKO_TOPAZ_URL", "http://10.0.0.5:8080")
    monkeypatch.setenv("ROKO_TOPAZ_TOKEN", "4242")
    monkeypatch.setenv("ROKO_CODE_KEY", "code-key")
    monkeypatch.setenv("ROKO_OPTIMOVE_API_KEY", "om-key")
    monkeypatch.setenv("ROKO_OPTIMOVE_HMAC_SECRET", "om-secret")
    monkeypatch.setenv("ROKO_INBOUND_PORTS", "17")
    monkeypatch.setenv("ROKO_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/roko")
    app = create_app()
    assert app.config["ENV"] == "prod"
    assert app.config["SECRET_KEY"] == "12345"
    assert app.config["WEBHOOK_INBOUND_TOKEN"] == "from-env"
    assert app.config["INBOUND_PORTS"] == frozenset({17})
    assert app.config["TOPAZ_TOKEN"] == "4242"
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_test_mapping_overrides_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("ROKO_WEBHOOK_INBOUND_TOKEN", "from-env")
    app = create_app({"ENV": "test", "WEBHOOK_INBOUND_TOKEN": "from-mapping", "DATABASE_URL": "sqlite://"})
    assert app.config["WEBHOOK_INBOUND_TOKEN"] == "from-mapping"


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match="ROKO_ENV"):
        create_app({"ENV": "production", "DATABASE_URL": "sqlite://"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", set(range(32))), ("17", {17}), ("0, 31,17", {0, 17, 31}), ([3, "4"], {3, 4}), (" , ", set(range(32)))],
)
def test_parse_ports(value: Any, expected: set[int]) -> None:
    assert parse_ports(value) == expected


@pytest.mark.parametrize("value", ["32", "-1", "a", "1;2", "17.0"])
def test_bad_ports_are_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="ROKO_INBOUND_PORTS"):
        parse_ports(value)


def test_default_database_is_sqlite_in_instance_folder(monkeypatch: Any) -> None:
    monkeypatch.delenv("ROKO_DATABASE_URL", raising=False)
    app = create_app({"ENV": "test"})
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("/instance/roko.db")


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Any) -> None:
    app = create_app({"ENV": "test", "DATABASE_URL": f"sqlite:///{tmp_path / 'wal.db'}", "SQLITE_BUSY_TIMEOUT": 7})
    with app.app_context():
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 7000
        db.session.remove()
        db.engine.dispose()
