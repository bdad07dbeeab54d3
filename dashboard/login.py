"""The login form: credentials checked against the users table, failures throttled in the database.

Failed logins are counted per account and per client address (:mod:`storage.login_throttle`), so
a lock-out holds for every browser session and dashboard process, and a new session does not
reset it. While an account or an address is locked, no password is checked for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from dashboard import auth
from dashboard.auth import User
from storage import login_throttle
from storage.login_throttle import ThrottlePolicy
from storage.store import Store
from storage.types import utcnow

log = logging.getLogger(__name__)

# an account: 5 failures within 15 minutes lock it for 5 minutes; a client address (many accounts,
# or many users behind one proxy): 20 failures within 15 minutes lock it for 15 minutes
ACCOUNT_THROTTLE = ThrottlePolicy(max_failures=5, window=timedelta(minutes=15), lockout=timedelta(minutes=5))
ADDRESS_THROTTLE = ThrottlePolicy(
    max_failures=20, window=timedelta(minutes=15), lockout=timedelta(minutes=15)
)


@dataclass(frozen=True)
class LoginOutcome:
    """What a login attempt came to: the user, or the end of the lock that refused it (or neither)."""

    user: User | None
    locked_until: datetime | None = None


def throttle_keys(username: str, address: str) -> list[tuple[str, str]]:
    return [("account", username or "-"), ("address", address)]


def attempt_login(
    engine: Engine, username: str, password: str, address: str, now: datetime | None = None
) -> LoginOutcome:
    """Check the credentials unless the account or the client address is locked; count failures.

    Unknown names are counted and locked like real ones, so a lock-out tells nothing about which
    accounts exist. Every outcome is audit-logged (``login``, ``login.failed``, ``login.locked``
    when a failure starts a lock; refused attempts during a lock only in the log).
    """
    now = now or utcnow()
    name = username.strip()[:64]
    keys = throttle_keys(name, address)
    store = Store(engine)
    until = login_throttle.locked_until(engine, keys, now)
    if until is not None:
        log.warning("login refused while locked", extra={"user": name, "address": address})
        return LoginOutcome(None, until)
    user = auth.authenticate(engine, name, password)
    if user is None:
        store.audit(name or "-", "login.failed", "dashboard", {"address": address})
        locks = []
        for (scope, key), policy in zip(keys, (ACCOUNT_THROTTLE, ADDRESS_THROTTLE), strict=True):
            lock = login_throttle.record_failure(engine, scope, key, policy, now)
            if lock is not None:
                store.audit(name or "-", "login.locked", f"{scope}:{key}", {"until": lock.isoformat()})
                locks.append(lock)
        return LoginOutcome(None, max(locks) if locks else None)
    login_throttle.clear_failures(engine, "account", name, now)  # an address's count is kept
    store.audit(user.username, "login", "dashboard", {"address": address})
    return LoginOutcome(user)


def client_address() -> str:
    """The browser's address: the connection's peer, or, when that is this machine (a local reverse
    proxy, or a browser on the server), the address the proxy appended to ``X-Forwarded-For``;
    ``local`` when there is none."""
    import streamlit as st

    peer = st.context.ip_address  # None for a loopback peer
    if isinstance(peer, str) and peer:
        return peer[: login_throttle.MAX_KEY]
    forwarded = st.context.headers.get("X-Forwarded-For") or ""
    last = forwarded.split(",")[-1].strip()
    return last[: login_throttle.MAX_KEY] if last else "local"


def login_form(engine: Engine) -> User | None:
    """Show the login form; returns the user once the credentials are right (audit-logged)."""
    import streamlit as st

    st.title("民声 · 舆情态势感知")
    st.caption("请使用分配的账号登录。")
    ended = st.session_state.pop(auth.ENDED_KEY, None)
    if ended:
        st.warning(ended)
    address = client_address()
    address_lock = login_throttle.locked_until(engine, [("address", address)], utcnow())
    with st.form("login"):
        username = st.text_input("用户名")
        password = st.text_input("密码", type="password")
        submitted = st.form_submit_button("登录", type="primary", disabled=address_lock is not None)
    if address_lock is not None:
        st.error(_locked_message(address_lock))
        return None
    if not submitted:
        return None
    outcome = attempt_login(engine, username, password, address)
    if outcome.user is None:
        st.error(
            "用户名或密码错误。" if outcome.locked_until is None else _locked_message(outcome.locked_until)
        )
        return None
    auth.remember(outcome.user)
    return outcome.user


def _locked_message(until: datetime) -> str:
    minutes = max(1, -(-int((until - utcnow()).total_seconds()) // 60))  # rounded up
    return f"登录失败次数过多，已暂时锁定，请约 {minutes} 分钟后再试。"
