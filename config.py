"""Configuration defaults for the ROKO campaign backend.

Load order (see ``roko_app.create_app``):

1. the defaults below;
2. ``ROKO_*`` environment variables (``app.config.from_prefixed_env("ROKO")``), so
   ``ROKO_DATABASE_URL`` sets ``DATABASE_URL`` and ``ROKO_WEBHOOK_INBOUND_TOKEN`` sets
   ``WEBHOOK_INBOUND_TOKEN``;
3. the mapping passed to ``create_app`` (tests).

Secrets have development fallbacks only while ``ENV`` is ``dev`` or ``test``; in
``stage`` and ``prod`` the application refuses to start without them.
"""

from __future__ import annotations

# dev | test | stage | prod
ENV = "dev"

# SQLAlchemy URL; empty means a SQLite file in the instance folder (instance/roko.db).
DATABASE_URL = ""

# Secrets: required in stage and prod (no fallback there).
SECRET_KEY = ""
WEBHOOK_INBOUND_TOKEN = ""

# Fallbacks used only in dev and test, never in stage or prod.
DEV_SECRET_KEY = "dev-secret-key-not-for-production"
DEV_WEBHOOK_INBOUND_TOKEN = "dev-inbound-token"

# Comma-separated SIM ports (0..31) this environment accepts inbound SMS from;
# empty means all of them.
INBOUND_PORTS = ""

# Largest inbound webhook body, in bytes (larger bodies get 413).
INBOUND_MAX_BODY = 64 * 1024

# Seconds a SQLite connection waits on a locked database before giving up.
SQLITE_BUSY_TIMEOUT = 10
# Seconds a PostgreSQL connection attempt may take (a database that is down must
# turn into a quick 503, not a hung request).
DATABASE_CONNECT_TIMEOUT = 5

# Logging level of the application's loggers.
LOG_LEVEL = "INFO"
