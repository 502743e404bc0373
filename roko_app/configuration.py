"""Loading and checking the configuration (defaults → ``ROKO_*`` → test mapping)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask

ENVIRONMENTS = ("dev", "test", "stage", "prod")
# The project's root, which holds config.py, templates/, static/, instance/ and
# migrations/ beside the package: found from this file, never from the working directory.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The defaults, loaded by their path (not imported), so no other ``config`` module on
# sys.path can stand in for them.
DEFAULTS_FILE = PROJECT_ROOT / "config.py"
# Campaign times are given, and shown, in Guinea's time (UTC+0, no daylight saving).
CAMPAIGN_TZ = ZoneInfo("Africa/Conakry")
# Secrets (and the gateway's address) that must be set explicitly outside dev and test,
# with their env var names.
REQUIRED_SECRETS = {
    "SECRET_KEY": "ROKO_SECRET_KEY",
    "WEBHOOK_INBOUND_TOKEN": "ROKO_WEBHOOK_INBOUND_TOKEN",
    "TOPAZ_URL": "ROKO_TOPAZ_URL",
    "TOPAZ_TOKEN": "ROKO_TOPAZ_TOKEN",
    "CODE_KEY": "ROKO_CODE_KEY",
    "OPTIMOVE_API_KEY": "ROKO_OPTIMOVE_API_KEY",
    "OPTIMOVE_HMAC_SECRET": "ROKO_OPTIMOVE_HMAC_SECRET",
}
# Config keys that are secrets and must be strings even when the environment
# variable looks like a number (from_prefixed_env parses values as JSON).
_STRING_KEYS = ("SECRET_KEY", "WEBHOOK_INBOUND_TOKEN", "DATABASE_URL", "ENV", "INBOUND_PORTS", "TOPAZ_URL",
                "TOPAZ_TOKEN", "SEND_RATE_LIMIT", "RATELIMIT_STORAGE_URI", "CODE_KEY", "CAMPAIGN_START",
                "CAMPAIGN_END", "CAMPAIGN_KEYWORD", "OPTIMOVE_API_KEY", "OPTIMOVE_HMAC_SECRET", "OPTIMOVE_RATE_LIMIT",
                "LOG_FORMAT", "SECRETS_SOURCE", "SSM_PREFIX", "SSM_REGION", "METRICS_TOKEN")
LOG_FORMATS = ("text", "json")
SECRETS_SOURCES = ("env", "ssm")
# ROKO_SECRETS_SOURCE=ssm: the parameter (under SSM_PREFIX, by default /roko/<ENV>/) each
# config key is read from; the seed names /roko/{stage|prod}/webhook-inbound-token.
SSM_PARAMETERS = {
    "SECRET_KEY": "secret-key",
    "WEBHOOK_INBOUND_TOKEN": "webhook-inbound-token",
    "TOPAZ_URL": "topaz-url",
    "TOPAZ_TOKEN": "topaz-token",
    "CODE_KEY": "code-key",
    "OPTIMOVE_API_KEY": "optimove-api-key",
    "OPTIMOVE_HMAC_SECRET": "optimove-hmac-secret",
    "DATABASE_URL": "database-url",
    "METRICS_TOKEN": "metrics-token",
}
# GetParameters takes at most this many names per call.
_SSM_BATCH = 10


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says what to set."""


def load_config(app: Flask, overrides: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` in the documented order and check it."""
    app.config.from_pyfile(DEFAULTS_FILE)
    app.config.from_prefixed_env("ROKO")
    if overrides:
        app.config.update(overrides)
    for key in _STRING_KEYS:
        value = app.config.get(key)
        if value is not None and not isinstance(value, str):
            app.config[key] = str(value)
    _check_environment(app)
    _check_log_format(app)
    _read_ssm_secrets(app)
    _apply_secrets(app)
    app.config["INBOUND_PORTS"] = parse_ports(app.config.get("INBOUND_PORTS", ""))
    for key in ("CAMPAIGN_START", "CAMPAIGN_END"):
        app.config[f"{key}_AT"] = parse_campaign_time(app.config.get(key), f"ROKO_{key}")
    start, end = app.config["CAMPAIGN_START_AT"], app.config["CAMPAIGN_END_AT"]
    if start and end and end <= start:
        raise ConfigError("ROKO_CAMPAIGN_END must be after ROKO_CAMPAIGN_START.")
    _check_optimove_status_map(app)
    _check_worker_settings(app)
    _apply_database(app)


def _check_environment(app: Flask) -> None:
    env = app.config["ENV"].strip().lower()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"ROKO_ENV must be one of {', '.join(ENVIRONMENTS)}; got {env!r}.")
    app.config["ENV"] = env
    app.config["TESTING"] = app.config.get("TESTING") or env == "test"


def _check_log_format(app: Flask) -> None:
    log_format = str(app.config.get("LOG_FORMAT") or "text").strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"ROKO_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}; got {log_format!r}.")
    app.config["LOG_FORMAT"] = log_format


#: The workers' numbers, with the bounds they must keep: outside them a worker would
#: silently do nothing (a batch of 0 claims nothing, 0 attempts never sends), spin (a poll
#: of 0 s), overflow a date (a backoff doubled a hundred times) or, on PostgreSQL, run out
#: of locks (a classifier's batch takes one advisory lock per number, docs/worker.md; the
#: server has room for 64 per connection by default).
WORKER_SETTINGS: dict[str, tuple[type[int] | type[float], float, float]] = {
    "CLASSIFY_BATCH_SIZE": (int, 1, 1000),
    "CLASSIFY_POLL_SECONDS": (float, 0.01, 60),
    "CLASSIFY_MAX_ATTEMPTS": (int, 1, 100),
    "CLASSIFY_BACKOFF_SECONDS": (float, 0, 86_400),
    "WORKER_BATCH_SIZE": (int, 1, 1000),
    "WORKER_POLL_SECONDS": (float, 0.01, 60),
    "SEND_MAX_ATTEMPTS": (int, 1, 100),
    "SEND_BACKOFF_SECONDS": (float, 0, 86_400),
    "SEND_BACKOFF_MAX_SECONDS": (float, 0, 7 * 86_400),
    "TOPAZ_RATE_PER_PORT": (float, 0, 1000),
}


def _check_worker_settings(app: Flask) -> None:
    """Each of :data:`WORKER_SETTINGS` a number within its bounds (a whole one for counts),
    stored as that number; else the app refuses to start, naming the variable."""
    for key, (kind, low, high) in WORKER_SETTINGS.items():
        raw = app.config.get(key)
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            value = math.nan
        if isinstance(raw, bool) or not math.isfinite(value) or not low <= value <= high or (
                kind is int and not value.is_integer()):
            what = "a whole number" if kind is int else "a number"
            raise ConfigError(f"ROKO_{key} must be {what} from {low:g} to {high:g}; got {raw!r}.")
        app.config[key] = kind(value)


def _check_optimove_status_map(app: Flask) -> None:
    from roko_app.services.optimove_callbacks import status_map  # the statuses are the outbox's

    app.config["OPTIMOVE_STATUS_MAP"] = status_map(app.config)


def make_ssm_client(config: Mapping[str, Any]) -> Any:
    """The boto3 SSM client the secrets are read with (credentials and region from the
    usual AWS chain: instance role, AWS_* variables; ROKO_SSM_REGION overrides the region)."""
    try:
        import boto3
    except ImportError:
        raise ConfigError("ROKO_SECRETS_SOURCE=ssm needs boto3, which is not installed: pip install -e '.[aws]' "
                          "(or pip install -r requirements-aws.txt).") from None
    return boto3.client("ssm", region_name=config.get("SSM_REGION") or None)


def _read_ssm_secrets(app: Flask) -> None:
    """With ``SECRETS_SOURCE=ssm``, fill every secret not already set (the environment
    wins) from SSM Parameter Store, decrypted, in one or two calls at start. In stage and
    prod a parameter that is neither set nor found stops the start, naming both places."""
    source = str(app.config.get("SECRETS_SOURCE") or "env").strip().lower()
    if source not in SECRETS_SOURCES:
        raise ConfigError(f"ROKO_SECRETS_SOURCE must be one of {', '.join(SECRETS_SOURCES)}; got {source!r}.")
    app.config["SECRETS_SOURCE"] = source
    if source != "ssm":
        return
    env = app.config["ENV"]
    prefix = app.config.get("SSM_PREFIX") or f"/roko/{env}/"
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    app.config["SSM_PREFIX"] = prefix
    wanted = {prefix + name: key for key, name in SSM_PARAMETERS.items() if not app.config.get(key)}
    if not wanted:
        return
    client = make_ssm_client(app.config)
    from botocore.exceptions import BotoCoreError, ClientError  # boto3 is there: make_ssm_client imported it

    found: dict[str, str] = {}
    with _quiet_botocore():
        for start in range(0, len(wanted), _SSM_BATCH):
            names = list(wanted)[start:start + _SSM_BATCH]
            try:
                answer = client.get_parameters(Names=names, WithDecryption=True)
            except (BotoCoreError, ClientError) as exc:  # no credentials, denied, unreachable
                code = exc.response["Error"].get("Code") if isinstance(exc, ClientError) else type(exc).__name__
                raise ConfigError(f"Cannot read the secrets from SSM Parameter Store under {prefix} ({code}); "
                                  "check the instance role (ssm:GetParameters, kms:Decrypt) and the region.") from None
            found.update({parameter["Name"]: parameter["Value"] for parameter in answer.get("Parameters", [])})
    for name, key in wanted.items():
        if name in found:
            app.config[key] = found[name]
    missing = [f"{name} (or ROKO_{key})" for name, key in wanted.items()
               if name not in found and key in REQUIRED_SECRETS]
    if missing and env in ("stage", "prod"):
        raise ConfigError(f"Refusing to start with ROKO_ENV={env}: SSM parameter(s) not found: {', '.join(missing)}.")


@contextmanager
def _quiet_botocore() -> Iterator[None]:
    """botocore logs response bodies (the decrypted values) at DEBUG: never while we read them."""
    logger = logging.getLogger("botocore")
    previous = logger.level
    if logger.getEffectiveLevel() < logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _apply_secrets(app: Flask) -> None:
    env = app.config["ENV"]
    missing = [var for key, var in REQUIRED_SECRETS.items() if not app.config.get(key)]
    if missing and env in ("stage", "prod"):
        raise ConfigError(
            f"Refusing to start with ROKO_ENV={env}: missing secret(s) "
            f"{', '.join(missing)}. Set them in the environment; there are no "
            "fallback secrets outside dev and test."
        )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = app.config["DEV_SECRET_KEY"]
    if not app.config.get("WEBHOOK_INBOUND_TOKEN"):
        app.config["WEBHOOK_INBOUND_TOKEN"] = app.config["DEV_WEBHOOK_INBOUND_TOKEN"]
    for key in ("CODE_KEY", "OPTIMOVE_API_KEY", "OPTIMOVE_HMAC_SECRET"):
        if not app.config.get(key):
            app.config[key] = app.config[f"DEV_{key}"]
    if not app.config.get("TOPAZ_URL"):
        app.config["TOPAZ_URL"] = app.config["DEV_TOPAZ_URL"]


def parse_ports(value: Any) -> frozenset[int]:
    """``"1, 17"`` → ``{1, 17}``; empty → every port 0..31."""
    if isinstance(value, (set, frozenset, list, tuple)):
        items = [str(v) for v in value]
    else:
        items = [part for part in str(value or "").split(",")]
    ports: set[int] = set()
    for item in (i.strip() for i in items):
        if not item:
            continue
        if not item.isdigit() or not 0 <= int(item) <= 31:
            raise ConfigError(f"ROKO_INBOUND_PORTS: {item!r} is not a SIM port 0..31.")
        ports.add(int(item))
    return frozenset(ports) if ports else frozenset(range(32))


def parse_campaign_time(value: Any, name: str) -> datetime | None:
    """An ISO date-time in Africa/Conakry time (unless it carries an offset), as UTC."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{name} must be an ISO date-time such as 2026-06-01T00:00, got {value!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CAMPAIGN_TZ)
    return parsed.astimezone(UTC)


def _apply_database(app: Flask) -> None:
    url = app.config.get("DATABASE_URL") or ""
    if not url:
        os.makedirs(app.instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(app.instance_path, "roko.db")
    elif url.startswith("postgresql://"):
        # Plain postgresql:// would pick psycopg2, which we do not ship.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    options: dict[str, Any] = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    # A statement's parameters (farmers' numbers, message texts) never reach a log, an
    # error's message or a traceback.
    options.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": float(app.config["SQLITE_BUSY_TIMEOUT"])})
    elif url.startswith("postgresql"):
        # No pool_pre_ping (a round trip per request): after a database restart the first
        # request on a stale connection fails with 503 (the gateway retries), and
        # SQLAlchemy then replaces every pooled connection at once.
        options.setdefault("connect_args", {"connect_timeout": int(app.config["DATABASE_CONNECT_TIMEOUT"])})
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
