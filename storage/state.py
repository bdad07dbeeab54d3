"""Small key/value state in ``app_state``: watermarks and markers that jobs keep between runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from storage import schema as s
from storage.types import utcnow


def get_state(engine: Engine, key: str) -> Any:
    """The stored value of ``key`` (None when it was never set)."""
    with engine.connect() as conn:
        return conn.execute(select(s.app_state.c.value).where(s.app_state.c.key == key)).scalar()


def set_state(conn: Any, engine: Engine, key: str, value: Any) -> None:
    """Store ``value`` under ``key`` inside the caller's transaction (insert or update)."""
    from storage.db import dialect_insert

    stmt = dialect_insert(engine, s.app_state).values(key=key, value=value, updated_at=utcnow())
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value, "updated_at": utcnow()})
    )
