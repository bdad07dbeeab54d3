"""Users, roles and login for the dashboard.

Roles and what they may do (:data:`PERMISSIONS`):

* ``official``: read every page, mark events (政策出台 / 现场处置 / 官方回应);
* ``analyst``: read, export search results, generate reports, correct tags, mark events;
* ``duty``: read, acknowledge / resolve / silence alerts;
* ``admin``: everything, plus user management.

Passwords are hashed with Argon2id (``argon2-cffi``). Users come from ``dashboard.users`` in the
configuration (synchronised into the ``users`` table by ``sensing init``, their passwords given
as ``$env:`` / ``$file:`` references) or are added with ``sensing users add``. The Streamlit parts
(:func:`login_form`, :func:`current_user`, :func:`require`) import Streamlit lazily so the CLI
does not pay for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update

from kernel.settings import UserSettings, resolve_secret
from storage import schema as s
from storage.db import write_tx
from storage.store import Store
from storage.types import utcnow

log = logging.getLogger(__name__)

ROLES = ("official", "analyst", "duty", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "export": frozenset({"analyst", "admin"}),
    "reports": frozenset({"analyst", "admin"}),
    "alert_actions": frozenset({"duty", "admin"}),
    "correct": frozenset({"analyst", "admin"}),
    "events": frozenset({"official", "analyst", "admin"}),
    "users": frozenset({"admin"}),
}
MIN_PASSWORD_LENGTH = 8
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60
SESSION_KEY = "auth_user"
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("minsheng-timing-equaliser")


class UserError(ValueError):
    """A user operation is invalid (unknown user or role, duplicate name, weak password)."""


@dataclass(frozen=True)
class User:
    """A logged-in user."""

    username: str
    role: str
    display_name: str | None = None

    @property
    def name(self) -> str:
        return self.display_name or self.username


def can(role: str | None, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown permissions are denied)."""
    return role is not None and role in PERMISSIONS.get(permission, frozenset())


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` (at least :data:`MIN_PASSWORD_LENGTH` characters)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; expected one of {ROLES}")


def get_user_row(engine: Engine, username: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(s.users).where(s.users.c.username == username)).mappings().first()
    return dict(row) if row else None


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work done for unknown names)."""
    row = get_user_row(engine, username.strip())
    if row is None or not row["active"]:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(row["password_hash"], password):
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        with write_tx(engine) as conn:
            conn.execute(
                update(s.users).where(s.users.c.id == row["id"]).values(password_hash=_hasher.hash(password))
            )
    return User(row["username"], row["role"], row["display_name"])


def active_user(engine: Engine, username: str) -> User | None:
    """The user if it still exists and is active (sessions end when an admin disables a user)."""
    row = get_user_row(engine, username)
    if row is None or not row["active"]:
        return None
    return User(row["username"], row["role"], row["display_name"])


def add_user(
    engine: Engine, username: str, role: str, password: str, display_name: str | None = None
) -> None:
    """Create a user (an existing name is an error)."""
    _check_role(role)
    UserSettings.model_validate({"username": username, "role": role})  # same name rules as the configuration
    if get_user_row(engine, username) is not None:
        raise UserError(f"用户 {username} 已存在")
    password_hash = hash_password(password)
    with write_tx(engine) as conn:
        conn.execute(
            s.users.insert().values(
                username=username, password_hash=password_hash, role=role, display_name=display_name,
                active=True, created_at=utcnow(),
            )
        )  # fmt: skip


def set_password(engine: Engine, username: str, password: str) -> None:
    password_hash = hash_password(password)
    with write_tx(engine) as conn:
        done = conn.execute(
            update(s.users).where(s.users.c.username == username).values(password_hash=password_hash)
        )
    if not done.rowcount:
        raise UserError(f"用户 {username} 不存在")


def set_active(engine: Engine, username: str, active: bool) -> None:
    with write_tx(engine) as conn:
        done = conn.execute(update(s.users).where(s.users.c.username == username).values(active=active))
    if not done.rowcount:
        raise UserError(f"用户 {username} 不存在")


def set_role(engine: Engine, username: str, role: str) -> None:
    _check_role(role)
    with write_tx(engine) as conn:
        done = conn.execute(update(s.users).where(s.users.c.username == username).values(role=role))
    if not done.rowcount:
        raise UserError(f"用户 {username} 不存在")


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every user without the password hash, by name."""
    u = s.users
    q = select(u.c.username, u.c.role, u.c.display_name, u.c.active, u.c.created_at).order_by(u.c.username)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def _configured_hash(user: UserSettings, current: str | None) -> str | None:
    """The hash to store for a configured user; None when its secret is unset."""
    if user.password_hash:
        value = resolve_secret(user.password_hash)
        if value:
            if not value.startswith("$argon2"):
                raise UserError(f"dashboard.users {user.username}: password_hash is not an argon2 hash")
            return value
    if user.password:
        value = resolve_secret(user.password)
        if value:
            if current and verify_password(current, value):
                return current  # unchanged: keep the hash (and its salt)
            return _hasher.hash(value)
    return None


def sync_users(engine: Engine, users: Sequence[UserSettings]) -> dict[str, int]:
    """Upsert the configured users (role, display name, password); returns created/updated/skipped counts.

    A user whose password reference resolves to nothing is skipped with a warning. Users only in
    the database are left alone, and so is the ``active`` flag of existing users.
    """
    counts = {"created": 0, "updated": 0, "skipped": 0}
    for user in users:
        row = get_user_row(engine, user.username)
        password_hash = _configured_hash(user, row["password_hash"] if row else None)
        if password_hash is None:
            ref = user.password_hash or user.password or "(none)"
            log.warning("user %s skipped: its password secret %s is not set", user.username, ref)
            counts["skipped"] += 1
            continue
        values = {"role": user.role, "display_name": user.display_name, "password_hash": password_hash}
        with write_tx(engine) as conn:
            if row is None:
                conn.execute(
                    s.users.insert().values(
                        username=user.username, active=True, created_at=utcnow(), **values
                    )
                )
                counts["created"] += 1
            elif any(row[k] != v for k, v in values.items()):
                conn.execute(update(s.users).where(s.users.c.id == row["id"]).values(**values))
                counts["updated"] += 1
    if counts["created"] or counts["updated"] or counts["skipped"]:
        log.info("users synchronised", extra={f"users_{k}": v for k, v in counts.items()})
    return counts


# -- Streamlit -------------------------------------------------------------------------------
def current_user() -> User | None:
    """The user logged in to this browser session, or None."""
    import streamlit as st

    data = st.session_state.get(SESSION_KEY)
    return User(**data) if isinstance(data, dict) else None


def login_form(engine: Engine) -> User | None:
    """Show the login form; returns the user once the credentials are right (audit-logged)."""
    import streamlit as st

    st.title("民声 · 舆情态势感知")
    st.caption("请使用分配的账号登录。")
    failures, last = st.session_state.get("auth_failures", (0, 0.0))
    locked = failures >= MAX_FAILURES and time.monotonic() - last < LOCKOUT_SECONDS
    with st.form("login"):
        username = st.text_input("用户名")
        password = st.text_input("密码", type="password")
        submitted = st.form_submit_button("登录", type="primary", disabled=locked)
    if locked:
        st.error(f"登录失败次数过多，请 {LOCKOUT_SECONDS} 秒后再试。")
        return None
    if not submitted:
        return None
    user = authenticate(engine, username, password)
    store = Store(engine)
    if user is None:
        st.session_state["auth_failures"] = (failures + 1, time.monotonic())
        store.audit(username.strip()[:64] or "-", "login.failed", "dashboard")
        st.error("用户名或密码错误。")
        return None
    st.session_state.pop("auth_failures", None)
    st.session_state[SESSION_KEY] = {
        "username": user.username,
        "role": user.role,
        "display_name": user.display_name,
    }
    store.audit(user.username, "login", "dashboard")
    return user


def logout() -> None:
    import streamlit as st

    st.session_state.pop(SESSION_KEY, None)


def require(user: User, permission: str, what: str) -> bool:
    """Show a notice and return False when ``user`` lacks ``permission`` for ``what``."""
    import streamlit as st

    if can(user.role, permission):
        return True
    allowed = "、".join(
        {"official": "领导", "analyst": "分析员", "duty": "值班员", "admin": "管理员"}[r]
        for r in ROLES
        if r in PERMISSIONS[permission]
    )
    st.info(f"{what}需要以下角色之一：{allowed}。")
    return False
