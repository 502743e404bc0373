"""Post a generated, signed Optimove campaign batch of N recipients to a URL.

    .venv/bin/python scripts/send_optimove_batch.py --url http://127.0.0.1:5000/api/v1/webhooks/optimove/campaigns \\
        --count 100 [--batch-id B] [--scheduled-in 60] [--algorithm sha256] [--key K] [--secret S]

Recipients are Guinea numbers 62xxxxxxx with a short French message; the batch is
scheduled --scheduled-in seconds from now (0 = now). Prints the status and the answer.
Only for loopback or your own test servers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

from roko_app.web.credentials import ALGORITHMS, sign


def build_batch(count: int, batch_id: str, scheduled_ms: int) -> dict[str, object]:
    return {
        "batchId": batch_id,
        "requestId": str(uuid.uuid4()),
        "senderId": "ROKO",
        "metadata": {"appId": 1, "brandId": "roko", "campaignId": "demo", "campaignType": 1, "channelId": 493,
                     "engagementId": batch_id, "isHashed": False, "scheduledTime": scheduled_ms, "tenantId": 1},
        "recipients": [{"message": f"ROKO Nano: offre speciale chez votre revendeur ({i}).",
                        "mobileNumber": f"62{i:07d}", "customerId": f"customer-{i}"} for i in range(count)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5000/api/v1/webhooks/optimove/campaigns")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--batch-id", default=None)
    parser.add_argument("--scheduled-in", type=float, default=0, help="seconds from now")
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="sha256")
    parser.add_argument("--key", default=os.environ.get("ROKO_OPTIMOVE_API_KEY", "dev-optimove-key"))
    parser.add_argument("--secret", default=os.environ.get("ROKO_OPTIMOVE_HMAC_SECRET", "dev-optimove-secret"))
    args = parser.parse_args(argv)
    batch_id = args.batch_id or f"batch-{uuid.uuid4().hex[:12]}"
    body = json.dumps(build_batch(args.count, batch_id, int((time.time() + args.scheduled_in) * 1000))).encode()
    request = urllib.request.Request(args.url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-API-Key": args.key,
        "x-hub-signature": sign(body, args.secret, args.algorithm)})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (an URL you choose)
            status, answer = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read().decode()
    print(f"{status} in {time.perf_counter() - started:.3f} s ({len(body)} bytes, batch {batch_id})")
    print(answer)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
