"""The ``users`` table: dashboard accounts, their role, password hash and session epoch.

Policy (roles, password rules, hashing, sessions) is :mod:`dashboard.auth`; this module only reads
and writes rows, so the dashboard and ``sensing users`` share one user store without SQL of their own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select, update

from storage import schema as s
from storage.db import write_tx
from storage.types import utcnow


def get_user(engine: Engine, username: str) -> dict[str, Any] | None:
    """The user's row (password hash included), or None."""
    with engine.connect() as conn:
        row = conn.execute(select(s.users).where(s.users.c.username == username)).mappings().first()
    return dict(row) if row else None


def insert_user(
    engine: Engine, username: str, role: str, password_hash: str, display_name: str | None = None
) -> None:
    """Add an active user (the name must be new)."""
    with write_tx(engine) as conn:
        conn.execute(
            s.users.insert().values(
                username=username, password_hash=password_hash, role=role, display_name=display_name,
                active=True, created_at=utcnow(),
            )
        )  # fmt: skip


def update_user(engine: Engine, username: str, values: dict[str, Any], *, ends_sessions: bool) -> int | None:
    """Apply ``values``; raise the session epoch when ``ends_sessions``. The epoch, or None: no such user."""
    u = s.users
    if ends_sessions:
        values = {**values, "session_epoch": u.c.session_epoch + 1}
    with write_tx(engine) as conn:
        epoch = conn.execute(
            update(u).where(u.c.username == username).values(**values).returning(u.c.session_epoch)
        ).scalar_one_or_none()
    return None if epoch is None else int(epoch)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every user without the password hash, by name."""
    u = s.users
    q = select(u.c.username, u.c.role, u.c.display_name, u.c.active, u.c.created_at).order_by(u.c.username)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
