"""Configuration: defaults, ROKO_* variables, refusal to start without secrets, secrets
from AWS SSM Parameter Store (botocore's Stubber: the real client, no network)."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from packaging.requirements import Requirement
from sqlalchemy import text

from roko_app import ConfigError, configuration, create_app
from roko_app.configuration import parse_ports
from roko_app.extensions import db
from tests.helpers import ROOT

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


@pytest.mark.parametrize(("key", "value"), [
    ("CLASSIFY_BATCH_SIZE", 0), ("CLASSIFY_BATCH_SIZE", 1001), ("CLASSIFY_BATCH_SIZE", "many"),
    ("CLASSIFY_BATCH_SIZE", 2.5), ("CLASSIFY_BATCH_SIZE", True), ("CLASSIFY_BATCH_SIZE", None),
    ("WORKER_BATCH_SIZE", 0), ("WORKER_BATCH_SIZE", 1001), ("SEND_MAX_ATTEMPTS", 0), ("SEND_MAX_ATTEMPTS", 101),
    ("CLASSIFY_MAX_ATTEMPTS", 0), ("CLASSIFY_POLL_SECONDS", 0), ("CLASSIFY_POLL_SECONDS", 61),
    ("WORKER_POLL_SECONDS", "nan"), ("WORKER_POLL_SECONDS", 0.009), ("CLASSIFY_BACKOFF_SECONDS", -1),
    ("TOPAZ_RATE_PER_PORT", -0.1), ("TOPAZ_RATE_PER_PORT", "inf"), ("TOPAZ_RATE_PER_PORT", 1000.5),
    ("SEND_BACKOFF_SECONDS", 86_401), ("SEND_BACKOFF_MAX_SECONDS", -1), ("CLASSIFY_BATCH_SIZE", 10**400),
])
def test_a_worker_setting_out_of_its_bounds_stops_the_start(key: str, value: Any) -> None:
    """A batch of 0 would claim nothing and no attempt would send: silence, not an error,
    unless the start refuses it."""
    with pytest.raises(ConfigError, match=f"ROKO_{key} must be"):
        create_app({"ENV": "test", "DATABASE_URL": "sqlite://", key: value})


def test_a_worker_setting_from_the_environment_is_checked_too(monkeypatch: Any) -> None:
    monkeypatch.setenv("ROKO_CLASSIFY_BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match="ROKO_CLASSIFY_BATCH_SIZE must be a whole number from 1 to 1000; got 0"):
        create_app({"ENV": "test", "DATABASE_URL": "sqlite://"})
    monkeypatch.setenv("ROKO_CLASSIFY_BATCH_SIZE", "250")
    assert create_app({"ENV": "test", "DATABASE_URL": "sqlite://"}).config["CLASSIFY_BATCH_SIZE"] == 250


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("CLASSIFY_BATCH_SIZE", 1, 1), ("CLASSIFY_BATCH_SIZE", "1000", 1000), ("WORKER_BATCH_SIZE", 20.0, 20),
    ("SEND_MAX_ATTEMPTS", 100, 100), ("CLASSIFY_MAX_ATTEMPTS", "1", 1), ("CLASSIFY_POLL_SECONDS", "0.01", 0.01),
    ("WORKER_POLL_SECONDS", 60, 60.0), ("CLASSIFY_BACKOFF_SECONDS", 0, 0.0), ("TOPAZ_RATE_PER_PORT", "0", 0.0),
    ("TOPAZ_RATE_PER_PORT", 1000, 1000.0),
])
def test_worker_settings_at_their_bounds_are_taken_as_numbers(key: str, value: Any, expected: float) -> None:
    app = create_app({"ENV": "test", "DATABASE_URL": "sqlite://", key: value})
    assert app.config[key] == expected and type(app.config[key]) is type(expected)


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


# --- secrets from AWS SSM Parameter Store (ROKO_SECRETS_SOURCE=ssm) ------------------------

SSM_VALUES = {"secret-key": "ssm-s3cret", "webhook-inbound-token": "ssm-t0ken", "topaz-url": "http://gw.internal:8080",
              "topaz-token": "ssm-gw-token", "code-key": "ssm-k3y", "optimove-api-key": "ssm-om-key",
              "optimove-hmac-secret": "ssm-om-secret", "database-url": "sqlite://", "metrics-token": "ssm-metrics"}
SSM_CONFIG_KEYS = {"secret-key": "SECRET_KEY", "webhook-inbound-token": "WEBHOOK_INBOUND_TOKEN",
                   "topaz-url": "TOPAZ_URL", "topaz-token": "TOPAZ_TOKEN", "code-key": "CODE_KEY",
                   "optimove-api-key": "OPTIMOVE_API_KEY", "optimove-hmac-secret": "OPTIMOVE_HMAC_SECRET",
                   "database-url": "DATABASE_URL", "metrics-token": "METRICS_TOKEN"}


@pytest.fixture
def ssm(monkeypatch: Any) -> Iterator[Stubber]:
    """The SSM client create_app builds, stubbed (no network); every queued answer must be used."""
    for var in [f"ROKO_{key}" for key in SSM_CONFIG_KEYS.values()] + ["ROKO_SECRETS_SOURCE", "ROKO_SSM_PREFIX"]:
        monkeypatch.delenv(var, raising=False)
    client = boto3.client("ssm", region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
    monkeypatch.setattr(configuration, "make_ssm_client", lambda config: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def ssm_answer(stubber: Stubber, prefix: str, names: list[str], values: dict[str, str]) -> None:
    """Queue SSM's answer to one GetParameters call for ``names`` (under ``prefix``), decrypted."""
    found = [{"Name": prefix + name, "Type": "SecureString", "Value": values[name], "Version": 1}
             for name in names if name in values]
    missing = [prefix + name for name in names if name not in values]
    answer: dict[str, Any] = {"Parameters": found, **({"InvalidParameters": missing} if missing else {})}
    stubber.add_response("get_parameters", answer, {"Names": [prefix + name for name in names], "WithDecryption": True})


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_ssm_parameters_fill_the_secrets_decrypted_in_one_call(ssm: Stubber, env: str) -> None:
    ssm_answer(ssm, f"/roko/{env}/", list(SSM_VALUES), SSM_VALUES)
    app = create_app({"ENV": env, "SECRETS_SOURCE": "ssm"})
    for name, key in SSM_CONFIG_KEYS.items():
        assert app.config[key] == SSM_VALUES[name], key
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"


def test_environment_variables_win_and_are_not_asked_for(ssm: Stubber, monkeypatch: Any) -> None:
    monkeypatch.setenv("ROKO_WEBHOOK_INBOUND_TOKEN", "from-env")
    monkeypatch.setenv("ROKO_DATABASE_URL", "sqlite://")
    asked = [name for name in SSM_VALUES if name not in ("webhook-inbound-token", "database-url")]
    ssm_answer(ssm, "/roko/prod/", asked, SSM_VALUES)
    app = create_app({"ENV": "prod", "SECRETS_SOURCE": "ssm"})
    assert app.config["WEBHOOK_INBOUND_TOKEN"] == "from-env"
    assert app.config["CODE_KEY"] == "ssm-k3y"


def test_nothing_is_asked_when_the_environment_has_everything(ssm: Stubber) -> None:
    app = create_app({"ENV": "prod", "SECRETS_SOURCE": "ssm", "DATABASE_URL": "sqlite://", "METRICS_TOKEN": "m",
                      **PROD_SECRETS})
    assert app.config["WEBHOOK_INBOUND_TOKEN"] == "t0ken"  # and the stubber saw no call


def test_the_prefix_can_be_set(ssm: Stubber) -> None:
    ssm_answer(ssm, "/shared/roko-prod/", list(SSM_VALUES), SSM_VALUES)
    app = create_app({"ENV": "prod", "SECRETS_SOURCE": "ssm", "SSM_PREFIX": "/shared/roko-prod"})
    assert app.config["TOPAZ_TOKEN"] == "ssm-gw-token"


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_a_missing_parameter_stops_the_start_naming_it(ssm: Stubber, env: str) -> None:
    values = {name: value for name, value in SSM_VALUES.items() if name != "code-key"}
    ssm_answer(ssm, f"/roko/{env}/", list(SSM_VALUES), values)
    with pytest.raises(ConfigError) as info:
        create_app({"ENV": env, "SECRETS_SOURCE": "ssm"})
    message = str(info.value)
    assert f"/roko/{env}/code-key (or ROKO_CODE_KEY)" in message and f"ROKO_ENV={env}" in message
    assert not any(value in message for value in SSM_VALUES.values() if value != "sqlite://")


def test_an_optional_parameter_may_be_missing(ssm: Stubber, monkeypatch: Any) -> None:
    monkeypatch.setenv("ROKO_DATABASE_URL", "sqlite://")
    values = {name: value for name, value in SSM_VALUES.items() if name not in ("database-url", "metrics-token")}
    ssm_answer(ssm, "/roko/prod/", [name for name in SSM_VALUES if name != "database-url"], values)
    assert create_app({"ENV": "prod", "SECRETS_SOURCE": "ssm"}).config["CODE_KEY"] == "ssm-k3y"


def test_dev_falls_back_to_dev_secrets_for_missing_parameters(ssm: Stubber) -> None:
    ssm_answer(ssm, "/roko/dev/", list(SSM_VALUES), {"topaz-token": "ssm-gw-token", "database-url": "sqlite://"})
    app = create_app({"ENV": "dev", "SECRETS_SOURCE": "ssm"})
    assert app.config["TOPAZ_TOKEN"] == "ssm-gw-token"
    assert app.config["WEBHOOK_INBOUND_TOKEN"] == "dev-inbound-token"


def test_an_aws_error_stops_the_start_with_its_code(ssm: Stubber) -> None:
    ssm.add_client_error("get_parameters", service_error_code="AccessDeniedException", service_message="denied")
    with pytest.raises(ConfigError, match="AccessDeniedException") as info:
        create_app({"ENV": "prod", "SECRETS_SOURCE": "ssm"})
    assert "ssm:GetParameters" in str(info.value)


def test_the_values_are_never_logged(ssm: Stubber, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, botocore's included
    ssm_answer(ssm, "/roko/prod/", list(SSM_VALUES), SSM_VALUES)
    app = create_app({"ENV": "prod", "SECRETS_SOURCE": "ssm"})
    result = app.test_cli_runner().invoke(args=["roko", "show-config"])
    assert result.exit_code == 0, result.output
    seen = caplog.text + result.output
    assert not any(value in seen for name, value in SSM_VALUES.items() if name not in ("topaz-url", "database-url"))


def test_ssm_without_boto3_is_a_clear_error(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 raises ImportError
    with pytest.raises(ConfigError, match=r"needs boto3.*pip install -e '\.\[aws\]'"):
        create_app({"ENV": "prod", "SECRETS_SOURCE": "ssm"})


def test_an_unknown_secrets_source_is_refused() -> None:
    with pytest.raises(ConfigError, match="ROKO_SECRETS_SOURCE"):
        create_app({"ENV": "prod", "SECRETS_SOURCE": "vault", "DATABASE_URL": "sqlite://", **PROD_SECRETS})


def test_the_aws_extra_admits_the_pinned_boto3() -> None:
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / "requirements-aws.txt").read_text(), re.M))
    with (ROOT / "pyproject.toml").open("rb") as handle:
        (declared,) = tomllib.load(handle)["project"]["optional-dependencies"]["aws"]
    requirement = Requirement(declared)
    assert requirement.specifier.contains(pins[requirement.name])
    assert "-r requirements-aws.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines(), "CI runs these tests"


class _FakeSsm(BaseHTTPRequestHandler):
    """SSM's GetParameters over HTTP on loopback, answering with SSM_VALUES under /roko/prod/."""

    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"target": self.headers["X-Amz-Target"], **body})
        found = [{"Name": name, "Type": "SecureString", "Value": SSM_VALUES[name.removeprefix("/roko/prod/")],
                  "Version": 1} for name in body["Names"]]
        payload = json.dumps({"Parameters": found, "InvalidParameters": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_real_client_over_http_reads_once_and_logs_no_value(monkeypatch: Any, caplog: Any) -> None:
    """boto3 as deployed (region, credentials, endpoint from the environment), against a
    fake SSM on loopback: one decrypted GetParameters call, and even with botocore's DEBUG
    logging on (which prints response bodies) no value reaches a log."""
    for var in [f"ROKO_{key}" for key in SSM_CONFIG_KEYS.values()]:
        monkeypatch.delenv(var, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSsm)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeSsm.requests = []
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    caplog.set_level(logging.DEBUG)
    try:
        app = create_app({"ENV": "prod", "SECRETS_SOURCE": "ssm", "SSM_REGION": "eu-west-1"})
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert app.config["OPTIMOVE_HMAC_SECRET"] == "ssm-om-secret"
    (call,) = _FakeSsm.requests
    assert call["target"] == "AmazonSSM.GetParameters" and call["WithDecryption"] is True
    assert sorted(call["Names"]) == sorted(f"/roko/prod/{name}" for name in SSM_VALUES)
    assert any(r.name.startswith("botocore") for r in caplog.records), "botocore did log (DEBUG)"
    assert not any(value in caplog.text for name, value in SSM_VALUES.items() if name not in ("topaz-url", "database-url"))
    assert logging.getLogger("botocore").level == logging.NOTSET, "botocore's level is left as it was"


def test_a_custom_optimove_status_map_is_read_from_the_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("ROKO_OPTIMOVE_STATUS_MAP", '{"DELIVERED": ["Delivered", "OK"], "OPTED_OUT": ["Failed", "Stop"]}')
    app = create_app({"ENV": "test", "DATABASE_URL": "sqlite://"})
    assert app.config["OPTIMOVE_STATUS_MAP"] == {"DELIVERED": ("Delivered", "OK"), "OPTED_OUT": ("Failed", "Stop")}


@pytest.mark.parametrize(("value", "problem"), [
    ('{"DELIVERD": ["Delivered", ""]}', "'DELIVERD' is not one of our statuses"),
    ('{"DELIVERED": ["Delivered"]}', "DELIVERED must map to \\[status, subStatus\\]"),
    ('{"DELIVERED": ["Delivered", 3]}', "DELIVERED must map to \\[status, subStatus\\]"),
    ('{"DELIVERED": "Delivered"}', "DELIVERED must map to \\[status, subStatus\\]"),
    ('["DELIVERED"]', "must map our statuses"),
    ('{"DELIVERED": ["Delivered", ""]', "must be a JSON object"),
])
def test_an_unusable_optimove_status_map_stops_the_start(monkeypatch: Any, value: str, problem: str) -> None:
    """A misspelt status would never be reported, and nobody would notice."""
    monkeypatch.setenv("ROKO_OPTIMOVE_STATUS_MAP", value)
    with pytest.raises(ConfigError, match=f"ROKO_OPTIMOVE_STATUS_MAP.*{problem}"):
        create_app({"ENV": "test", "DATABASE_URL": "sqlite://"})
