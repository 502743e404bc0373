"""What differs between the two supported backends, for statements both speak."""

from __future__ import annotations

from typing import Any


def insert_for(session: Any, model: Any) -> Any:
    """A dialect-specific ``INSERT`` for ``model`` that supports ``on_conflict_do_nothing``
    (SQLite >= 3.35 and PostgreSQL both speak ``ON CONFLICT ... RETURNING``)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported backends
        raise RuntimeError(f"unsupported database backend {name!r}")
    return insert(model)
