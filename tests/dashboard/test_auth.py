"""Users and roles: hashing, config sync, the CLI, the login form, sessions of disabled users."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from dashboard import auth
from kernel.settings import ConfigError, UserSettings
from sensing.cli import cli
from storage import login_throttle
from storage import schema as s
from tests.dashboard.conftest import APP, NOW, PASSWORDS
from tests.dashboard.helpers import metrics
from tests.seed import SeedFacts


def test_permissions_by_role() -> None:
    table = {p: sorted(r for r in auth.ROLES if auth.can(r, p)) for p in auth.PERMISSIONS}
    assert table == {
        "read": ["admin", "analyst", "duty", "official"],
        "export": ["admin", "analyst"],
        "reports": ["admin", "analyst"],
        "subjects": ["admin", "analyst"],
        "alert_actions": ["admin", "duty"],
        "correct": ["admin", "analyst"],
        "events": ["admin", "analyst", "official"],
        "users": ["admin"],
        "ask": ["admin", "analyst"],
    }
    assert not auth.can("official", "no-such-permission") and not auth.can(None, "read")


def test_production_hasher_is_argon2id_with_default_cost() -> None:
    from argon2 import PasswordHasher

    default = PasswordHasher()
    hashed = auth._hasher.hash("x" * 12)  # the cheap test hasher: same algorithm
    assert hashed.startswith("$argon2id$")
    assert auth._DUMMY_HASH.startswith(f"$argon2id$v=19$m={default.memory_cost},t={default.time_cost},")


def test_passwords_are_argon2_and_checked(engine: Engine) -> None:
    auth.add_user(engine, "li.hua", "analyst", "correct horse", "李华")
    stored = auth.get_user_row(engine, "li.hua")
    assert stored is not None and stored["password_hash"].startswith("$argon2id$")
    assert "correct horse" not in stored["password_hash"]
    assert auth.authenticate(engine, "li.hua", "correct horse") == auth.User("li.hua", "analyst", "李华")
    assert auth.authenticate(engine, "li.hua", "wrong horse") is None
    assert auth.authenticate(engine, "nobody", "correct horse") is None
    with pytest.raises(auth.UserError):
        auth.add_user(engine, "li.hua", "duty", "another password")
    with pytest.raises(auth.UserError):
        auth.add_user(engine, "short", "duty", "1234")
    auth.set_active(engine, "li.hua", False)
    assert auth.authenticate(engine, "li.hua", "correct horse") is None
    assert auth.active_user(engine, "li.hua") is None


def test_sync_users_from_config(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dashboard.auth")
    monkeypatch.setenv("T_ADMIN_PW", "admin password 1")
    monkeypatch.delenv("T_UNSET_PW", raising=False)
    secret_file = tmp_path / "duty.txt"
    secret_file.write_text("duty password 1\n", encoding="utf-8")
    users = [
        UserSettings(username="admin", role="admin", display_name="管理员", password="$env:T_ADMIN_PW"),
        UserSettings(username="duty1", role="duty", password=f"$file:{secret_file}"),
        UserSettings(username="ghost", role="official", password="$env:T_UNSET_PW"),
    ]
    assert auth.sync_users(engine, users) == {"created": 2, "updated": 0, "skipped": 1}
    assert auth.authenticate(engine, "admin", "admin password 1") is not None
    assert auth.authenticate(engine, "duty1", "duty password 1") is not None
    assert auth.get_user_row(engine, "ghost") is None
    assert "user ghost skipped" in caplog.text and "T_UNSET_PW" in caplog.text
    first_hash = auth.get_user_row(engine, "admin")["password_hash"]  # type: ignore[index]
    assert auth.sync_users(engine, users) == {"created": 0, "updated": 0, "skipped": 1}  # idempotent
    assert auth.get_user_row(engine, "admin")["password_hash"] == first_hash  # type: ignore[index]
    monkeypatch.setenv("T_ADMIN_PW", "admin password 2")
    users[0] = UserSettings(username="admin", role="analyst", password="$env:T_ADMIN_PW")
    assert auth.sync_users(engine, users)["updated"] == 1
    assert auth.authenticate(engine, "admin", "admin password 2") == auth.User("admin", "analyst", None)


def test_users_cli(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": db_url}}), encoding="utf-8")
    run = CliRunner().invoke
    base = ["--config", str(config), "users"]
    out = run(
        cli,
        [*base, "add", "wang", "--role", "duty", "--display-name", "王"],
        input="duty pass 1\nduty pass 1\n",
    )
    assert out.exit_code == 0, out.output
    assert run(cli, [*base, "add", "wang", "--role", "duty", "--password", "duty pass 1"]).exit_code != 0
    assert run(cli, [*base, "add", "bad", "--role", "boss", "--password", "whatever 1"]).exit_code != 0
    listing = run(cli, [*base, "list"])
    assert "wang" in listing.output and "duty" in listing.output and "active" in listing.output
    assert run(cli, [*base, "set-password", "wang"], input="new pass 12\nnew pass 12\n").exit_code == 0
    assert run(cli, [*base, "disable", "wang"]).exit_code == 0
    assert "disabled" in run(cli, [*base, "list"]).output
    assert run(cli, [*base, "disable", "nobody"]).exit_code != 0
    from storage.db import make_engine

    engine = make_engine(db_url)
    try:
        assert auth.authenticate(engine, "wang", "new pass 12") is None  # disabled
        auth.set_active(engine, "wang", True)
        assert auth.authenticate(engine, "wang", "new pass 12") is not None
        with engine.connect() as conn:
            actions = [a for (a,) in conn.execute(select(s.audit_log.c.action))]
        assert actions == ["user.add", "user.set-password", "user.disable"]
    finally:
        engine.dispose()


def test_login_form(seeded: SeedFacts, app_config: Path, engine: Engine) -> None:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["sensing_now"] = NOW
    at.run()
    assert not at.metric and at.button(key="FormSubmitter:login-登录")
    at.text_input[0].input("analyst")
    at.text_input[1].input("not the password")
    at.button[0].click().run()
    assert any("用户名或密码错误" in e.value for e in at.error)
    assert not at.metric
    at.text_input[0].input("analyst")
    at.text_input[1].input(PASSWORDS["analyst"])
    at.button[0].click().run()
    assert not at.exception
    start, end = seeded.period(7)
    assert metrics(at)["声量（条）"] == f"{seeded.volume(start, end):,}"
    with engine.connect() as conn:
        audit = conn.execute(select(s.audit_log.c.user, s.audit_log.c.action)).all()
    assert audit == [("analyst", "login.failed"), ("analyst", "login")]
    # an admin disables the user: the session ends at the next run
    auth.set_active(engine, "analyst", False)
    at.run()
    assert not at.metric and any("登录" in b.label for b in at.button)


def test_one_password_policy_everywhere(engine: Engine) -> None:
    for bad, why in (
        ("short", "至少"),
        ("  padded pw  ", "空白"),
        ("wang.wei", "用户名"),
        ("x" * 1025, "最多"),
    ):
        with pytest.raises(auth.UserError, match=why):
            auth.check_password(bad, "wang.wei")
        with pytest.raises(auth.UserError, match=why):
            auth.add_user(engine, "wang.wei", "duty", bad)
    auth.add_user(engine, "wang.wei", "duty", "a good pw 123")
    with pytest.raises(auth.UserError, match="用户名"):
        auth.set_password(engine, "wang.wei", "WANG.WEI")
    assert auth.authenticate(engine, "wang.wei", "a good pw 123") is not None


def test_config_passwords_meet_the_same_policy(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("T_GOOD_PW", "a good password")
    monkeypatch.setenv("T_SHORT_PW", "1234")
    users = [
        UserSettings(username="good", role="analyst", password="$env:T_GOOD_PW"),
        UserSettings(username="weak", role="duty", password="$env:T_SHORT_PW"),
        UserSettings(username="hashy", role="duty", password_hash="$env:T_GOOD_PW"),
    ]
    with pytest.raises(ConfigError) as caught:
        auth.sync_users(engine, users)
    assert caught.value.problems == [
        "dashboard.users.1.password: user weak: 密码至少需要 8 个字符",
        "dashboard.users.2.password_hash: user hashy: password_hash is not an argon2 hash",
    ]
    assert "user refused" in caplog.text
    assert auth.authenticate(engine, "good", "a good password") is not None  # the others are synchronised
    assert auth.get_user_row(engine, "weak") is None and auth.get_user_row(engine, "hashy") is None
    # an existing user keeps the password it had when the configured one is refused
    auth.add_user(engine, "weak", "duty", "the old password")
    with pytest.raises(ConfigError):
        auth.sync_users(engine, users[:2])
    assert auth.authenticate(engine, "weak", "the old password") is not None


def test_config_password_changes_end_sessions(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_PW", "first password")
    user = UserSettings(username="zhou", role="duty", display_name="周", password="$env:T_PW")
    auth.sync_users(engine, [user])
    epoch = auth.get_user_row(engine, "zhou")["session_epoch"]  # type: ignore[index]
    auth.sync_users(engine, [user.model_copy(update={"display_name": "周某"})])
    assert auth.get_user_row(engine, "zhou")["session_epoch"] == epoch  # type: ignore[index]
    monkeypatch.setenv("T_PW", "second password")
    auth.sync_users(engine, [user])
    assert auth.get_user_row(engine, "zhou")["session_epoch"] == epoch + 1  # type: ignore[index]
    auth.sync_users(engine, [user.model_copy(update={"role": "analyst"})])
    assert auth.get_user_row(engine, "zhou")["session_epoch"] == epoch + 2  # type: ignore[index]


def test_init_refuses_a_weak_config_password(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    users = [
        {"username": "admin", "role": "admin", "password": "$env:T_ADMIN_PW"},
        {"username": "duty1", "role": "duty", "password": "$env:T_DUTY_PW"},
    ]
    config.write_text(yaml.safe_dump({"database": {"url": db_url}, "dashboard": {"users": users}}), "utf-8")
    monkeypatch.setenv("T_ADMIN_PW", "admin")
    monkeypatch.setenv("T_DUTY_PW", "duty password 1")
    out = CliRunner().invoke(cli, ["--config", str(config), "init"])
    assert out.exit_code != 0
    assert (
        f"config error: {config}: dashboard.users.0.password: user admin: 密码至少需要 8 个字符" in out.output
    )
    from storage.db import make_engine

    engine = make_engine(db_url)
    try:
        assert auth.get_user_row(engine, "admin") is None
        assert auth.authenticate(engine, "duty1", "duty password 1") is not None
    finally:
        engine.dispose()


def test_users_cli_set_role_ends_sessions(db_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": db_url}}), encoding="utf-8")
    base = ["--config", str(config), "users"]
    run = CliRunner().invoke
    assert run(cli, [*base, "add", "qian", "--role", "duty", "--password", "qian"]).exit_code != 0  # = name
    assert run(cli, [*base, "add", "qian", "--role", "duty", "--password", "qian pass 1"]).exit_code == 0
    out = run(cli, [*base, "set-role", "qian", "analyst"])
    assert out.exit_code == 0, out.output
    assert run(cli, [*base, "set-role", "nobody", "analyst"]).exit_code != 0
    assert run(cli, [*base, "set-role", "qian", "boss"]).exit_code != 0
    from storage.db import make_engine

    engine = make_engine(db_url)
    try:
        row = auth.get_user_row(engine, "qian")
        assert row is not None and (row["role"], row["session_epoch"]) == ("analyst", 1)
        with engine.connect() as conn:
            audit = conn.execute(select(s.audit_log.c.action, s.audit_log.c.detail)).all()
        assert audit[-1] == ("user.set-role", {"from": "duty", "to": "analyst"})
    finally:
        engine.dispose()


def test_address_lockout(
    seeded: SeedFacts, app_config: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard import login

    per_account = login.ACCOUNT_THROTTLE.max_failures - 1  # many names, each under its own limit
    for i in range(login.ADDRESS_THROTTLE.max_failures):
        outcome = login.attempt_login(engine, f"guess{i // per_account}", "wrong password", "203.0.113.5")
    assert outcome.locked_until is not None
    now = outcome.locked_until - login.ADDRESS_THROTTLE.lockout
    assert login_throttle.locked_until(engine, [("address", "203.0.113.5")], now) == outcome.locked_until
    assert login_throttle.locked_until(engine, [("account", "guess0")], now) is None
    assert login.attempt_login(engine, "analyst", PASSWORDS["analyst"], "203.0.113.5").user is None
    assert login.attempt_login(engine, "analyst", PASSWORDS["analyst"], "198.51.100.7").user is not None
    monkeypatch.setattr(login, "client_address", lambda: "203.0.113.5")
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["sensing_now"] = NOW
    at.run()
    assert at.button[0].disabled and any("已暂时锁定" in e.value for e in at.error)


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("10.1.2.3", {"X-Forwarded-For": "6.6.6.6"}, "10.1.2.3"),  # a remote peer: its header is not trusted
        (None, {"X-Forwarded-For": "6.6.6.6, 10.9.8.7"}, "10.9.8.7"),  # a local proxy: the address it added
        (None, {}, "local"),  # a browser on the server itself
    ],
)
def test_client_address(
    monkeypatch: pytest.MonkeyPatch, peer: str | None, headers: dict[str, str], expected: str
) -> None:
    import types

    import streamlit as st

    from dashboard import login

    monkeypatch.setattr(st, "context", types.SimpleNamespace(ip_address=peer, headers=headers))
    assert login.client_address() == expected
