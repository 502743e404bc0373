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

# No automatic OPTIONS answer (Flask's default is an empty 200 text/html page): nothing
# here serves browsers across origins, so OPTIONS is a 405 like any method a route does
# not take (JSON under /api/, with Allow).
PROVIDE_AUTOMATIC_OPTIONS = False

# SQLAlchemy URL; empty means a SQLite file in the instance folder (instance/roko.db).
DATABASE_URL = ""

# Secrets: required in stage and prod (no fallback there).
SECRET_KEY = ""
WEBHOOK_INBOUND_TOKEN = ""

# Where the secrets above (and TOPAZ_URL, TOPAZ_TOKEN, CODE_KEY, OPTIMOVE_*, DATABASE_URL)
# come from: "env" (ROKO_* variables, the default) or "ssm" (AWS SSM Parameter Store,
# read once at start with boto3: pip install -e '.[aws]'). With "ssm", a variable that is
# set still wins; the rest are read, decrypted, from SSM_PREFIX + their name
# (webhook-inbound-token, secret-key, ...: roko_app.configuration.SSM_PARAMETERS).
SECRETS_SOURCE = "env"
# Empty: /roko/<ENV>/ (the seed's /roko/{stage|prod}/...).
SSM_PREFIX = ""
# Empty: the AWS default (AWS_REGION, AWS_DEFAULT_REGION, the profile).
SSM_REGION = ""

# GET /metrics (Prometheus): with a token, scrapers send "Authorization: Bearer <token>";
# without one, dev and test serve the metrics to anyone and stage and prod answer 404.
METRICS_TOKEN = ""

# Fallbacks used only in dev and test, never in stage or prod.
DEV_SECRET_KEY = "dev-secret-key-not-for-production"  # noqa: S105 (dev and test only)
DEV_WEBHOOK_INBOUND_TOKEN = "dev-inbound-token"  # noqa: S105 (dev and test only)
# The API key `flask roko dev-seed` registers for the demo (dev only; refused elsewhere).
DEV_DEMO_API_KEY = "roko_dev-demo-key-not-for-production"
# The password of the demo console users `flask roko dev-seed` creates (dev only).
DEV_DEMO_PASSWORD = "roko-demo-password"  # noqa: S105 (dev only)

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
# How log lines look on stderr (web app and worker alike): "text" (one readable line,
# the default, as `make run` shows it) or "json" (one JSON object per line: time, level,
# logger, request_id, message, and the access line's method, route, status, duration_ms).
LOG_FORMAT = "text"

# --- outbound: the Topaz gateway (docs/topaz-gateway.md) ----------------------------
# Required in stage and prod; dev and test fall back to the simulator on loopback.
TOPAZ_URL = ""
DEV_TOPAZ_URL = "http://127.0.0.1:8025"
TOPAZ_TOKEN = ""
# The SIM port this environment sends from.
TOPAZ_SEND_PORT = 17
TOPAZ_CONNECT_TIMEOUT = 3.05
TOPAZ_READ_TIMEOUT = 10.0

# Delivery attempts and retry backoff (seconds; doubled after each transient failure).
SEND_MAX_ATTEMPTS = 5
SEND_BACKOFF_SECONDS = 30
SEND_BACKOFF_MAX_SECONDS = 1800
# How long a claimed (SENDING) message stays claimed if its sender dies; must exceed
# the gateway's connect + read timeouts.
SEND_LEASE_SECONDS = 60

# Delivery reports (POST /api/v1/webhooks/topaz/status, docs/topaz-gateway.md §4): the
# largest body and the most reports in one batch; a SENT message with no report after
# DLR_EXPIRY_HOURS becomes UNREPORTED (delivery unknown), checked by the worker every
# DLR_SWEEP_SECONDS.
DLR_MAX_BODY = 1024 * 1024
DLR_MAX_REPORTS = 1000
DLR_EXPIRY_HOURS = 48
DLR_SWEEP_SECONDS = 60

# --- rate limits (Flask-Limiter) -----------------------------------------------------
# memory:// per process; in production redis://host:6379/0 so every process shares counters.
RATELIMIT_STORAGE_URI = "memory://"
RATELIMIT_HEADERS_ENABLED = True
RATELIMIT_KEY_PREFIX = "roko"
# Per API key, on POST /api/v1/sms/send.
SEND_RATE_LIMIT = "60/minute"

# --- the lucky draw -------------------------------------------------------------------
# Server-side key of the code registry's keyed hashes (HMAC-SHA256). Required in stage
# and prod; changing it makes every imported code unknown.
CODE_KEY = ""
DEV_CODE_KEY = "dev-code-key-not-for-production"  # noqa: S105 (dev and test only)
# Campaign window, ISO date-times in Africa/Conakry time; empty = open on that side.
CAMPAIGN_START = ""
CAMPAIGN_END = ""
CAMPAIGN_KEYWORD = "ROKO"
# A number with BLOCK_AFTER_FAILURES invalid (or someone else's) codes within
# BLOCK_WINDOW_HOURS is blocked for BLOCK_HOURS: one reply says so, then silence.
BLOCK_AFTER_FAILURES = 5
BLOCK_WINDOW_HOURS = 24
BLOCK_HOURS = 24
# Lucky draws (issue 11): days a notified winner has to claim the prize before it is
# forfeited ("délai dépassé") and passed to the next alternate (flask roko draw expire-claims).
DRAW_CLAIM_DAYS = 30
# drand's HTTP relays (League of Entropy), tried in order when a drand draw is run without
# a pasted signature; whatever they answer is verified offline against the network's key.
DRAND_URLS = ["https://api.drand.sh", "https://api2.drand.sh", "https://drand.cloudflare.com"]
DRAND_TIMEOUT_SECONDS = 5
# The public draw pages, per address: viewing (and downloading the evidence), and the
# entrant's self-check (number + code), kept low so codes cannot be tried in bulk.
DRAW_PAGE_RATE_LIMIT = "60/minute"
DRAW_CHECK_RATE_LIMIT = "5/minute;20/hour"

# --- the outbox worker (flask roko worker) ----------------------------------------------
# Messages per second per SIM port (0 = no throttle).
TOPAZ_RATE_PER_PORT = 1.0
# Rows claimed per round, and seconds to sleep when nothing is due.
WORKER_BATCH_SIZE = 20
WORKER_POLL_SECONDS = 1.0
# The classifier: inbound SMS per transaction; how long to wait for new SMS between
# looks at the queue (PostgreSQL wakes it at once through LISTEN/NOTIFY, SQLite polls);
# tries of an SMS whose classification raises, and the first backoff (doubled each try)
# before it is parked for an operator.
CLASSIFY_BATCH_SIZE = 100
CLASSIFY_POLL_SECONDS = 0.1
CLASSIFY_MAX_ATTEMPTS = 3
CLASSIFY_BACKOFF_SECONDS = 30

# --- the console ------------------------------------------------------------------------
# Log-in throttling (docs/security.md): failed log-ins allowed within the window before
# refusing. One address on one account: that address is refused for that account only
# (no lock-out button for an attacker). One address on any accounts: that address is
# refused. One account from every address together (distributed guessing): the account
# is locked for everyone until the window passes or an admin unlocks it (Admin → Users).
LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS = 5
LOGIN_MAX_FAILURES_PER_ADDRESS = 20
LOGIN_MAX_FAILURES_PER_ACCOUNT = 30
LOGIN_WINDOW_MINUTES = 15
# How many proxies (TLS terminator, load balancer) stand in front of the app and set
# X-Forwarded-For / X-Forwarded-Proto. 0 (direct): those headers are ignored, so a client
# cannot choose its address. Behind one proxy set 1, or every per-address limit (log-in,
# public draw pages) counts all clients as the proxy.
TRUSTED_PROXIES = 0

# --- Optimove campaign transmission (POST /api/v1/webhooks/optimove/campaigns) -----------
# The key Optimove presents in X-API-Key and the HMAC secret of x-hub-signature.
# Required in stage and prod.
OPTIMOVE_API_KEY = ""
OPTIMOVE_HMAC_SECRET = ""
DEV_OPTIMOVE_API_KEY = "dev-optimove-key"  # noqa: S105 (dev and test only)
DEV_OPTIMOVE_HMAC_SECRET = "dev-optimove-secret"  # noqa: S105 (dev and test only)
OPTIMOVE_MAX_BODY = 10 * 1024 * 1024
OPTIMOVE_RATE_LIMIT = "120/minute"
# How hashed recipients (metadata.isHashed) are resolved: the hex digest of the 9-digit
# number with this hashlib algorithm, matched against the numbers that texted us.
OPTIMOVE_HASH_ALGORITHM = "sha256"

# --- what we tell Optimove (docs/optimove.md): delivery reports, incoming messages, handshake ---
# One tenant app's BASE_URL (opaque; empty: nothing is sent) and its API token (app-api-key);
# calls are signed with OPTIMOVE_HMAC_SECRET. The worker posts them every OPTIMOVE_SEND_SECONDS.
OPTIMOVE_BASE_URL = ""
OPTIMOVE_APP_API_KEY = ""
OPTIMOVE_SEND_SECONDS = 5
# Our status -> Optimove's [status, subStatus] (its enumeration is not known to us: correct it
# here); a status absent from the map is not reported. "OPTED_OUT" is a message CANCELLED
# because its number texted STOP before it was sent. JSON in ROKO_OPTIMOVE_STATUS_MAP.
OPTIMOVE_STATUS_MAP = {
    "DELIVERED": ["Delivered", ""],
    "UNDELIVERED": ["Undelivered", "Failed"],
    "EXPIRED": ["Undelivered", "Expired"],
    "UNREPORTED": ["Unknown", "NoDeliveryReport"],
    "FAILED": ["Failed", "NotSent"],
    "OPTED_OUT": ["Failed", "OptedOut"],
}
# Inbound SMS from a number that got a campaign message within this many hours are
# forwarded as incoming messages; "to" is the sender id the farmer replied to.
OPTIMOVE_REPLY_WINDOW_HOURS = 72
OPTIMOVE_SENDER_ID = "ROKO"
# Our campaign webhook's public URL, registered by `flask roko optimove handshake`.
OPTIMOVE_CAMPAIGN_WEBHOOK_URL = ""
