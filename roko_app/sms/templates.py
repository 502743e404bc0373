"""The placeholder syntax of reply templates, shared with the console's counter.

A template holds ``{name}`` fields and ``{{`` / ``}}`` for a literal brace; nothing
else: no format spec (``{chances:0>60}``), no conversion (``{code!r}``), no attribute or
index. So the filled text is the template with each ``{name}`` replaced by its value,
the same here and in static/js/counter.js (``fillPlaceholders``), and a template this
module accepts is filled the same way by ``str.format_map``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["TemplateReading", "plain_field", "read_template"]


@dataclass(frozen=True, slots=True)
class TemplateReading:
    """A template read against the placeholders it may use.

    ``filled`` is the text with each known ``{name}`` replaced and ``{{``/``}}`` made
    single; anything wrong is kept as written. The problems list fields as written,
    distinct, in order of first appearance: ``unknown`` (``{name}`` not a placeholder),
    ``formatted`` (a ``:`` format spec or ``!`` conversion) and ``broken`` (a lone
    ``{`` or ``}``).
    """

    filled: str
    unknown: tuple[str, ...]
    formatted: tuple[str, ...]
    broken: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.unknown or self.formatted or self.broken)


def read_template(text: str, values: Mapping[str, str]) -> TemplateReading:
    """Read ``text``, filling the placeholders named in ``values`` with their values."""
    out: list[str] = []
    unknown: dict[str, None] = {}
    formatted: dict[str, None] = {}
    broken: dict[str, None] = {}
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "{}" and text[i + 1:i + 2] == ch:
            out.append(ch)
            i += 2
            continue
        if ch == "{":
            end, following = text.find("}", i + 1), text.find("{", i + 1)
            if end < 0 or 0 <= following < end:  # never closed before the next field
                broken.setdefault("{")
                out.append(ch)
                i += 1
                continue
            field, whole = text[i + 1:end], text[i:end + 1]
            if ":" in field or "!" in field:
                formatted.setdefault(whole)
                out.append(whole)
            elif field in values:
                out.append(values[field])
            else:
                unknown.setdefault(whole)
                out.append(whole)
            i = end + 1
            continue
        if ch == "}":
            broken.setdefault("}")
        out.append(ch)
        i += 1
    return TemplateReading("".join(out), tuple(unknown), tuple(formatted), tuple(broken))


def plain_field(field: str) -> str:
    """``{chances:0>60}`` or ``{code!r}`` written as a plain field: ``{chances}``, ``{code}``."""
    name = field[1:-1]
    for mark in ":!":
        name = name.split(mark, 1)[0]
    return "{" + name + "}"
