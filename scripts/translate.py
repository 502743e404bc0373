"""Keep the French catalog in step with the source strings.

    python scripts/translate.py          # extract, update fr, compile; list untranslated
    python scripts/translate.py --merge  # also take French strings from translations/pending/*.json
    python scripts/translate.py --check  # exit 1 if a string has no French translation

Source strings are English; French (the default language) lives in
roko_app/translations/fr/LC_MESSAGES/messages.po, edited by hand. The compiled .mo is
committed so deployments need no build step.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "roko_app" / "translations"
PO = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
PYBABEL = [sys.executable, "-m", "babel.messages.frontend"]


def run(*args: str) -> None:
    subprocess.run([*PYBABEL, *args], cwd=ROOT, check=True, capture_output=True)


def untranslated() -> list[str]:
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    # a plural message's string is a tuple of forms: every form must be filled in
    return [str(m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalog
            if m.id and (m.fuzzy or not (all(m.string) if isinstance(m.string, tuple) else m.string))]


def merge_pending() -> int:
    """Fill empty French strings from roko_app/translations/pending/*.json
    ({"English": "French"}), then delete those files."""
    from babel.messages.pofile import write_po

    pending = sorted((TRANSLATIONS / "pending").glob("*.json"))
    if not pending:
        return 0
    import json

    known: dict[str, str] = {}
    for path in pending:
        known.update(json.loads(path.read_text(encoding="utf-8")))
    with PO.open("rb") as handle:
        catalog = read_po(handle)
    filled = 0
    for message in catalog:
        if message.id and isinstance(message.id, str) and (not message.string or message.fuzzy) and message.id in known:
            message.string, message.flags = known[message.id], set()
            filled += 1
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=120)
    for path in pending:
        path.unlink()
    return filled


def main() -> int:
    run("extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "--no-location", "--sort-output",
        "-o", str(TRANSLATIONS / "messages.pot"), ".")
    run("update", "-i", str(TRANSLATIONS / "messages.pot"), "-d", str(TRANSLATIONS), "-l", "fr", "--no-fuzzy-matching")
    if "--merge" in sys.argv:
        print(f"merged {merge_pending()} translations from pending/")
    missing = untranslated()
    for message in missing:
        print(f"untranslated: {message!r}")
    # compiled every time the catalog was updated, --check included: the update rewrites
    # the .po's header, and a .mo left behind it fails the suite's check of the two
    run("compile", "-d", str(TRANSLATIONS))
    if "--check" in sys.argv:
        return 1 if missing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
