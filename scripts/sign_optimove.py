"""Print the x-hub-signature header for a body file, as Optimove computes it.

    .venv/bin/python scripts/sign_optimove.py BODY.json [--secret S] [--algorithm sha256|sha1|sha512]

The signature is an HMAC of the file's exact bytes (no re-serialisation): sign what you
send. The secret defaults to $ROKO_OPTIMOVE_HMAC_SECRET, else the dev secret.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from roko_app.web.credentials import ALGORITHMS, sign

DEV_SECRET = "dev-optimove-secret"  # noqa: S105 (the dev default of config.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("body", type=Path, help="the request body file (signed byte for byte)")
    parser.add_argument("--secret", default=os.environ.get("ROKO_OPTIMOVE_HMAC_SECRET", DEV_SECRET))
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), default="sha256")
    parser.add_argument("--header", action="store_true", help="print 'x-hub-signature: ...' instead of the value")
    args = parser.parse_args(argv)
    value = sign(args.body.read_bytes(), args.secret, args.algorithm)
    print(f"x-hub-signature: {value}" if args.header else value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
