"""`make run`: the web app, the Topaz simulator and the outbox worker,
on their embedded development defaults, stopped together with Ctrl-C.

Run it through `make run`, which first creates .venv and upgrades the dev database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB_PORT = int(os.environ.get("ROKO_DEV_WEB_PORT", "5000"))
SIM_PORT = int(os.environ.get("ROKO_DEV_SIMULATOR_PORT", "8025"))
WEBHOOK_TOKEN = os.environ.get("ROKO_WEBHOOK_INBOUND_TOKEN", "dev-inbound-token")
TOPAZ_TOKEN = os.environ.get("ROKO_TOPAZ_TOKEN", "dev-topaz-token")
DEMO_API_KEY = "roko_dev-demo-key-not-for-production"  # registered by `flask roko dev-seed`
DLR_DELAY_MS = 2000  # the simulator's delivery reports, this long after each send
SEED_SMS = {
    "gateway_sms_id": 101,
    "port": 17,
    "sender": "612345678",
    "text": "ROKO U12345678",
    "timestamp": "2026-05-15T10:30:00Z",
    "source": "topaz",
}


def dev_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("ROKO_ENV", "dev")
    env.setdefault("ROKO_WEBHOOK_INBOUND_TOKEN", WEBHOOK_TOKEN)
    env.setdefault("ROKO_TOPAZ_URL", f"http://127.0.0.1:{SIM_PORT}")
    env.setdefault("ROKO_TOPAZ_TOKEN", TOPAZ_TOKEN)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def banner() -> str:
    web = f"http://127.0.0.1:{WEB_PORT}"
    sim = f"http://127.0.0.1:{SIM_PORT}"
    curl_inbound = (
        f"curl -sS -X POST {web}/api/v1/webhooks/topaz/inbound \\\n"
        f"  -H 'Content-Type: application/json' -H 'X-Roko-Webhook-Token: {WEBHOOK_TOKEN}' \\\n"
        f"  -d '{json.dumps(SEED_SMS)}'"
    )
    curl_send = (
        f"curl -sS -X POST {web}/api/v1/sms/send \\\n"
        f"  -H 'Content-Type: application/json' -H 'x-api-key: {DEMO_API_KEY}' \\\n"
        "  -d '{\"phone_number\": \"612345678\", \"text\": \"Merci pour votre participation ROKO.\", "
        "\"template_key\": \"VALID_FIRST\"}'"
    )
    curl_inject = (
        f"curl -sS -X POST {sim}/inject -H 'Content-Type: application/json' \\\n"
        "  -d '{\"sender\": \"622222222\", \"text\": \"ROKO U11111111\"}'"
    )
    return "\n".join([
        "",
        "ROKO is running (Ctrl-C stops everything):",
        f"  web app         {web}   (health: {web}/healthz)",
        f"  Topaz simulator {sim}   (sent SMS: {sim}/sent)",
        f"  dev webhook token (X-Roko-Webhook-Token): {WEBHOOK_TOKEN}",
        f"  demo API key (x-api-key):                 {DEMO_API_KEY}",
        f"  console {web}/login  admin@roko.local or operateur@roko.local, password roko-demo-password",
        "",
        "Post the seed's example SMS to the inbound webhook:",
        curl_inbound,
        "",
        "Send the seed's example SMS through the gateway (then see it at "
        f"{sim}/sent):",
        curl_send,
        "",
        "Let the simulator play a second farmer texting another demo code (U12345678 is the first",
        f"farmer's once the SMS above is in); the French reply reaches {sim}/sent a moment later:",
        curl_inject,
        "",
        f"The simulator reports each SMS's delivery {DLR_DELAY_MS / 1000:g} s after sending it (one in ten not",
        "delivered): see Messages → Outgoing in the console, or ask the simulator what became of one:",
        f"curl -sS {sim}/api/v1/send/roko-out-1 -H 'Authorization: Bearer {TOPAZ_TOKEN}'",
        "",
    ])


def main() -> int:
    # A service manager's SIGTERM stops everything like Ctrl-C does (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    env = dev_env()
    python = sys.executable
    processes: list[subprocess.Popen[bytes]] = []

    def start(args: list[str]) -> None:
        processes.append(subprocess.Popen(args, cwd=ROOT, env=env))

    try:
        start([python, "-m", "roko_app.gateway.simulator", "--host", "127.0.0.1", "--port", str(SIM_PORT),
               "--token", env["ROKO_TOPAZ_TOKEN"],
               "--webhook-url", f"http://127.0.0.1:{WEB_PORT}/api/v1/webhooks/topaz/inbound",
               "--webhook-token", env["ROKO_WEBHOOK_INBOUND_TOKEN"],
               # Delivery reports come back 2 s after each send, one in ten "failed", one in
               # twenty "expired" (the console's delivery column shows all three).
               "--dlr-url", f"http://127.0.0.1:{WEB_PORT}/api/v1/webhooks/topaz/status",
               "--dlr-delay-ms", str(DLR_DELAY_MS), "--dlr-fail-rate", "0.1", "--dlr-expire-rate", "0.05"])
        start([python, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1", "--port", str(WEB_PORT)])
        start([python, "-m", "flask", "--app", "wsgi", "roko", "worker"])
        wait_for(f"http://127.0.0.1:{SIM_PORT}/health")
        wait_for(f"http://127.0.0.1:{WEB_PORT}/healthz")
        print(banner(), flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        return next(p.returncode for p in processes if p.poll() is not None) or 1
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
