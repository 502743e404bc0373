"""The Optimove helper scripts of the README."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from roko_app.web.credentials import sign, signature_problem

ROOT = Path(__file__).resolve().parent.parent


def test_sign_optimove_prints_the_signature_of_the_exact_bytes(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_bytes(b'{\n  "batchId": "b1"\n}\n')
    for algorithm in ("sha1", "sha256", "sha512"):
        out = subprocess.run([sys.executable, "scripts/sign_optimove.py", str(body), "--secret", "s3",
                              "--algorithm", algorithm], cwd=ROOT, capture_output=True, text=True, check=True)
        value = out.stdout.strip()
        assert value == sign(body.read_bytes(), "s3", algorithm)
        assert signature_problem(value, body.read_bytes(), "s3") is None


def test_send_optimove_batch_posts_a_signed_batch(live_server: Any, app: Any) -> None:
    url = live_server(ROKO_OPTIMOVE_API_KEY="k", ROKO_OPTIMOVE_HMAC_SECRET="s")
    out = subprocess.run([sys.executable, "scripts/send_optimove_batch.py", "--url",
                          url + "/api/v1/webhooks/optimove/campaigns", "--count", "25", "--key", "k", "--secret", "s"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("200 ") and '"accepted":25' in out.stdout.replace(" ", "")


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_run_dev_stops_its_three_processes_on_sigterm(tmp_path: Path) -> None:
    """`make run`'s script under a service manager: SIGTERM ends the simulator, the web app
    and the worker too, not only itself."""
    import os
    import signal
    import time

    from tests.helpers import free_port

    web, sim = free_port(), free_port()
    env = {**os.environ, "ROKO_DEV_WEB_PORT": str(web), "ROKO_DEV_SIMULATOR_PORT": str(sim),
           "ROKO_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}", "ROKO_ENV": "dev"}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    with subprocess.Popen([sys.executable, "scripts/run_dev.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        try:
            deadline = time.monotonic() + 90
            while "ROKO is running" not in (proc.stdout.readline() if proc.stdout else ""):
                assert proc.poll() is None and time.monotonic() < deadline, "run_dev did not start"
            assert len(_processes_mentioning(f"--port {sim}")) == 1  # the simulator
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
            assert _processes_mentioning(f"--port {sim}") == [] and _processes_mentioning(f"--port {web}") == []
        finally:
            if proc.poll() is None:
                proc.kill()
            for pid in _processes_mentioning(f"--port {sim}") + _processes_mentioning(f"--port {web}"):
                os.kill(pid, signal.SIGKILL)  # what a failed run left behind
