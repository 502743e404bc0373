"""Keep the French catalog in step with the source strings.

    python scripts/translate.py          # extract, merge into fr, compile; list untranslated
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
    return [str(m.id) for m in catalog if m.id and (not m.string or m.fuzzy)]


def main() -> int:
    run("extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "--no-location", "--sort-output",
        "-o", str(TRANSLATIONS / "messages.pot"), ".")
    run("update", "-i", str(TRANSLATIONS / "messages.pot"), "-d", str(TRANSLATIONS), "-l", "fr", "--no-fuzzy-matching")
    missing = untranslated()
    for message in missing:
        print(f"untranslated: {message!r}")
    if "--check" in sys.argv:
        return 1 if missing else 0
    run("compile", "-d", str(TRANSLATIONS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
