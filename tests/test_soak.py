"""bench/soak.py stays runnable: its imports from the other benchmark scripts (common,
classify, optimove, reply_latency) resolve and its options are the documented ones. A
real run (even 6 s of load) takes 90 s on this machine, mostly setting up PostgreSQL,
gunicorn and the workers, so it is run by hand (bench/README.md, Soak), not here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_soak_script_imports_and_lists_its_options() -> None:
    out = subprocess.run([sys.executable, "bench/soak.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    for option in ("--minutes", "--rate", "--recipients", "--rate-per-port", "--no-chart", "--pg-url", "--redis-url"):
        assert option in out.stdout


def test_the_soak_script_refuses_a_nonsense_run() -> None:
    out = subprocess.run([sys.executable, "bench/soak.py", "--minutes", "0"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "--minutes" in out.stderr
