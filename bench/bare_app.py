"""The baseline for ``bench/inbound.py``: a bare Flask app, no ROKO code, no database.

``POST /api/v1/webhooks/topaz/inbound`` reads the body the way the real endpoint does
(``json.loads(request.get_data())``, object required) and answers the same response,
``200 {"sms_id": N, "status": "accepted"}`` with a per-worker counter for N. It does
not check the token, validate the fields or touch a database: it is the floor that
Flask + gunicorn + the load tool cost on this machine, against which the real
endpoint's throughput is expressed as a ratio.

Run by the benchmark as ``gunicorn -w 2 -k sync --chdir bench bare_app:app``.
"""

from __future__ import annotations

import itertools
import json

from flask import Flask, request

app = Flask(__name__)
_sms_ids = itertools.count(1)


@app.post("/api/v1/webhooks/topaz/inbound")
def topaz_inbound() -> tuple[dict[str, object], int]:
    try:
        body = json.loads(request.get_data(cache=True))
    except (UnicodeDecodeError, ValueError):
        return {"error": "Bad Request", "message": "The body is not valid JSON.", "code": "MALFORMED_JSON"}, 400
    if not isinstance(body, dict):
        return {"error": "Bad Request", "message": "The body must be a JSON object.", "code": "MALFORMED_JSON"}, 400
    return {"status": "accepted", "sms_id": next(_sms_ids)}, 200


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
