"""Users, roles and login for the dashboard.

Roles and what they may do (:data:`PERMISSIONS`):

* ``official``: read every page, mark events (政策出台 / 现场处置 / 官方回应);
* ``analyst``: read, export search results, generate reports, correct tags, mark events, define 专题,
  ask the office's large model (智能问答, when configured);
* ``duty``: read, acknowledge / resolve / silence alerts;
* ``admin``: everything, plus user management.

Passwords are hashed with Argon2id (``argon2-cffi``) and must pass :func:`check_password`
(whether set in the dashboard, by ``sensing users`` or in the configuration). Users come from
``dashboard.users`` in the configuration (synchronised into the ``users`` table by
``sensing init``, their passwords given as ``$env:`` / ``$file:`` references) or are added with
``sensing users add``.

Sessions: a browser session remembers the user name and the ``session_epoch`` it logged in with.
Every page run re-reads the user (:func:`session_user`): a disabled user, or one whose epoch has
moved (a password reset, a role change or disabling raises it), is logged out, and the role shown
is the stored one. Action callbacks run before the page and re-check with :func:`authorize`.
Logging in is :mod:`dashboard.login`.

The Streamlit parts import Streamlit lazily so the CLI does not pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine

from kernel.settings import ConfigError, UserSettings, resolve_secret
from storage import users

log = logging.getLogger(__name__)

ROLES = ("official", "analyst", "duty", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "export": frozenset({"analyst", "admin"}),
    "reports": frozenset({"analyst", "admin"}),
    "subjects": frozenset({"analyst", "admin"}),  # create, edit, archive 专题
    "alert_actions": frozenset({"duty", "admin"}),
    "correct": frozenset({"analyst", "admin"}),
    "events": frozenset({"official", "analyst", "admin"}),
    "users": frozenset({"admin"}),
    "ask": frozenset({"analyst", "admin"}),
}
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
SESSION_KEY = "auth_user"
# what an action callback answers when authorize() refuses
DENIED = "操作未执行：账号已停用或已退出，或不再有此权限。"
ENDED_KEY = "auth_ended"  # why the last session ended, shown once on the login form
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
    epoch: int = field(default=0, compare=False)  # users.session_epoch when read

    @property
    def name(self) -> str:
        return self.display_name or self.username


def can(role: str | None, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown permissions are denied)."""
    return role is not None and role in PERMISSIONS.get(permission, frozenset())


def check_password(password: str, username: str | None = None) -> None:
    """Raise :class:`UserError` unless ``password`` meets the policy: :data:`MIN_PASSWORD_LENGTH` to
    :data:`MAX_PASSWORD_LENGTH` characters, not blank at either end, not the user name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"密码最多 {MAX_PASSWORD_LENGTH} 个字符")
    if password != password.strip():
        raise UserError("密码首尾不能是空白字符")
    if username and password.casefold() == username.strip().casefold():
        raise UserError("密码不能与用户名相同")


def hash_password(password: str, username: str | None = None) -> str:
    """An Argon2id hash of ``password`` once it passes :func:`check_password`."""
    check_password(password, username)
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
    return users.get_user(engine, username)


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work done for unknown names)."""
    row = get_user_row(engine, username.strip())
    if row is None or not row["active"]:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(row["password_hash"], password):
        return None
    if _hasher.check_needs_rehash(row["password_hash"]):
        users.update_user(
            engine, row["username"], {"password_hash": _hasher.hash(password)}, ends_sessions=False
        )
    return _user(row)


def _user(row: dict[str, Any]) -> User:
    return User(row["username"], row["role"], row["display_name"], int(row["session_epoch"]))


def active_user(engine: Engine, username: str) -> User | None:
    """The user as stored now (role, epoch) if it still exists and is active, else None."""
    row = get_user_row(engine, username)
    if row is None or not row["active"]:
        return None
    return _user(row)


def add_user(
    engine: Engine, username: str, role: str, password: str, display_name: str | None = None
) -> None:
    """Create a user (an existing name is an error)."""
    _check_role(role)
    UserSettings.model_validate({"username": username, "role": role})  # same name rules as the configuration
    if get_user_row(engine, username) is not None:
        raise UserError(f"用户 {username} 已存在")
    users.insert_user(engine, username, role, hash_password(password, username), display_name)


def _change(engine: Engine, username: str, values: dict[str, Any], ends_sessions: bool) -> int:
    """Apply ``values`` to the user; raise the session epoch when ``ends_sessions``. Returns the epoch."""
    epoch = users.update_user(engine, username, values, ends_sessions=ends_sessions)
    if epoch is None:
        raise UserError(f"用户 {username} 不存在")
    return int(epoch)


def set_password(engine: Engine, username: str, password: str) -> int:
    """Set a new password (policy-checked); every session of the user ends. Returns the new epoch."""
    return _change(engine, username, {"password_hash": hash_password(password, username)}, True)


def set_active(engine: Engine, username: str, active: bool) -> int:
    """Enable or disable the user; disabling ends every session. Returns the epoch."""
    return _change(engine, username, {"active": active}, not active)


def set_role(engine: Engine, username: str, role: str) -> int:
    """Change the role; a real change ends every session of the user. Returns the epoch."""
    _check_role(role)
    row = get_user_row(engine, username)
    if row is None:
        raise UserError(f"用户 {username} 不存在")
    return _change(engine, username, {"role": role}, row["role"] != role)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    """Every user without the password hash, by name."""
    return users.list_users(engine)


def _configured_hash(user: UserSettings, current: str | None) -> str | None:
    """The hash to store for a configured user; None when its secret is unset.

    Raises:
        UserError: the hash is not an argon2 hash, or the password fails :func:`check_password`.
    """
    if user.password_hash:
        value = resolve_secret(user.password_hash)
        if value:
            if not value.startswith("$argon2"):
                raise UserError("password_hash is not an argon2 hash")
            return value
    if user.password:
        value = resolve_secret(user.password)
        if value:
            check_password(value, user.username)  # the policy `sensing users` and the dashboard apply
            if current and verify_password(current, value):
                return current  # unchanged: keep the hash (and its salt)
            return _hasher.hash(value)
    return None


def sync_users(engine: Engine, configured: Sequence[UserSettings]) -> dict[str, int]:
    """Upsert the configured users (role, display name, password); returns created/updated/skipped counts.

    A user whose password reference resolves to nothing is skipped with a warning. A new password
    or role ends the user's sessions. Users only in the database are left alone, and so is the
    ``active`` flag of existing users.

    Raises:
        ConfigError: after every other user is synchronised, one problem per user whose password
            (or hash) is refused; such a user is left as it was.
    """
    counts = {"created": 0, "updated": 0, "skipped": 0}
    problems = []
    for i, user in enumerate(configured):
        row = get_user_row(engine, user.username)
        try:
            password_hash = _configured_hash(user, row["password_hash"] if row else None)
        except UserError as exc:
            ref = "password_hash" if user.password_hash else "password"
            problems.append(f"dashboard.users.{i}.{ref}: user {user.username}: {exc}")
            counts["skipped"] += 1
            continue
        if password_hash is None:
            ref = user.password_hash or user.password or "(none)"
            log.warning("user %s skipped: its password secret %s is not set", user.username, ref)
            counts["skipped"] += 1
            continue
        values: dict[str, Any] = {
            "role": user.role, "display_name": user.display_name, "password_hash": password_hash,
        }  # fmt: skip
        if row is None:
            users.insert_user(engine, user.username, user.role, password_hash, user.display_name)
            counts["created"] += 1
        elif any(row[k] != v for k, v in values.items()):
            ends = row["role"] != user.role or row["password_hash"] != password_hash
            users.update_user(engine, user.username, values, ends_sessions=ends)
            counts["updated"] += 1
    if counts["created"] or counts["updated"] or counts["skipped"]:
        log.info("users synchronised", extra={f"users_{k}": v for k, v in counts.items()})
    if problems:
        for problem in problems:
            log.error("user refused: %s", problem)
        raise ConfigError(problems)
    return counts


# -- Streamlit -------------------------------------------------------------------------------
def current_user() -> User | None:
    """The user of this browser session as :func:`session_user` last read it, or None."""
    import streamlit as st

    data = st.session_state.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    return User(data["username"], data["role"], data.get("display_name"), int(data.get("epoch", -1)))


def remember(user: User) -> None:
    """Log ``user`` in to this browser session (with their current epoch)."""
    import streamlit as st

    st.session_state[SESSION_KEY] = {
        "username": user.username,
        "role": user.role,
        "display_name": user.display_name,
        "epoch": user.epoch,
    }


def session_user(engine: Engine) -> User | None:
    """The session's user re-read from the database (role, display name), or None.

    A session whose user is gone or disabled, or whose epoch is not the stored one (the password or
    the role changed since it logged in), is logged out here.
    """
    import streamlit as st

    data = st.session_state.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    user = active_user(engine, str(data.get("username")))
    if user is None or data.get("epoch") != user.epoch:
        logout()
        st.session_state[ENDED_KEY] = "账号已停用或密码、角色已变更，请重新登录。"
        return None
    remember(user)
    return user


def authorize(engine: Engine, permission: str) -> User | None:
    """In an action callback (which runs before the page): the session's user, re-read from the
    database, if they still hold ``permission``; else None (and the caller writes nothing)."""
    user = session_user(engine)
    return user if user is not None and can(user.role, permission) else None


def keep_session(epoch: int) -> None:
    """Keep this session after its own user's password or role changed (to ``epoch``)."""
    import streamlit as st

    data = st.session_state.get(SESSION_KEY)
    if isinstance(data, dict):
        st.session_state[SESSION_KEY] = {**data, "epoch": epoch}


def logout() -> None:
    """End this browser session's login and forget everything it held (prepared exports, filters):
    whoever logs in next in this browser starts clean."""
    import streamlit as st

    st.session_state.clear()


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
