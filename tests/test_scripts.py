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
