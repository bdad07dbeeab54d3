"""Roles hold for the whole session: every run and every action callback reads the user from the database.

A change made "between runs" here is made directly in the database, as another admin, the CLI or
``sensing init`` would make it while this browser session stays open.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select, update
from streamlit.testing.v1 import AppTest

from dashboard import auth
from storage import schema as s
from tests.dashboard.conftest import APP, NOW, PASSWORDS, OpenPage
from tests.dashboard.helpers import page_text
from tests.seed import SeedFacts


def set_role_only(engine: Engine, username: str, role: str) -> None:
    """Change the stored role and nothing else (the session epoch stays): only the per-run and
    per-callback role checks stand between the session and its old role."""
    with engine.begin() as conn:
        conn.execute(update(s.users).where(s.users.c.username == username).values(role=role))


def audit_actions(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(s.audit_log.c.user, s.audit_log.c.action))]


def stored_role(engine: Engine, username: str) -> str:
    row = auth.get_user_row(engine, username)
    assert row is not None
    return str(row["role"])


def log_in(role: str, password: str | None = None) -> AppTest:
    """A fresh browser session that logs in through the form."""
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["sensing_now"] = NOW
    at.run()
    at.text_input[0].input(role)
    at.text_input[1].input(password or PASSWORDS[role])
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def logged_in(at: AppTest) -> bool:
    return not any(b.label == "登录" for b in at.button) and auth.SESSION_KEY in at.session_state


def sidebar_role(at: AppTest) -> str:
    return " ".join(t.value for t in at.sidebar.text)


def test_a_demoted_admin_has_the_lower_role_at_the_next_run(open_page: OpenPage, engine: Engine) -> None:
    at = open_page("users", role="admin")
    assert "管理员" in sidebar_role(at)
    set_role_only(engine, "admin", "analyst")
    at.run()
    assert not at.exception
    assert "分析员" in sidebar_role(at) and "管理员" not in sidebar_role(at)
    assert not at.title or at.title[0].value != "用户管理"
    assert at.session_state[auth.SESSION_KEY]["role"] == "analyst"


def test_a_demoted_admin_cannot_promote_themselves_back(open_page: OpenPage, engine: Engine) -> None:
    at = open_page("users", role="admin")
    at.selectbox(key="u_who").select("admin")
    at.selectbox(key="u_role").select("admin")
    set_role_only(engine, "admin", "analyst")  # demoted while the page is open
    at.button(key="u_set_role").click().run()  # the callback runs before the page re-reads the role
    assert not at.exception
    assert stored_role(engine, "admin") == "analyst"
    assert ("admin", "user.set-role") not in audit_actions(engine)


def test_alert_actions_recheck_the_role(open_page: OpenPage, seeded: SeedFacts, engine: Engine) -> None:
    at = open_page("alerts", role="duty")
    target = next(a for a in seeded.alerts if a["status"] == "open")
    at.selectbox(key="alert_pick").select(target["id"]).run()
    set_role_only(engine, "duty", "official")
    at.button(key="btn_ack").click().run()
    assert not at.exception
    with engine.connect() as conn:
        status = conn.execute(select(s.alerts.c.status).where(s.alerts.c.id == target["id"])).scalar_one()
    assert status == "open"
    assert not [a for a in audit_actions(engine) if a[1].startswith("alert.")]
    assert any(e.value == auth.DENIED for e in at.error)
    assert not [b for b in at.button if b.key in ("btn_ack", "btn_resolve", "btn_silence")]


def test_corrections_recheck_the_role(open_page: OpenPage, engine: Engine) -> None:
    at = open_page("review", role="analyst")
    button = next(b for b in at.button if b.key.startswith("rv_sentiment_"))
    set_role_only(engine, "analyst", "official")
    button.click().run()
    assert not at.exception
    with engine.connect() as conn:
        assert conn.execute(select(s.corrections.c.id)).all() == []
    assert ("analyst", "tag.correct") not in audit_actions(engine)


def test_events_recheck_the_role(open_page: OpenPage, engine: Engine) -> None:
    at = open_page("topics", role="analyst")
    at.datetime_input(key="topic_event_at").set_value(datetime(2026, 11, 19, 18, 0))
    set_role_only(engine, "analyst", "duty")
    at.button(key="topic_event_submit").click().run()
    assert not at.exception
    with engine.connect() as conn:
        assert conn.execute(select(s.events.c.id)).all() == []
    assert any(e.value == auth.DENIED for e in at.error)


def test_exports_recheck_the_role_and_vanish_after_demotion(open_page: OpenPage, engine: Engine) -> None:
    at = open_page("search", role="analyst")
    at.button(key="q_prepare").click().run()
    assert at.download_button(key="q_download_csv")
    assert audit_actions(engine) == [("analyst", "export.search")]
    set_role_only(engine, "analyst", "official")
    at.run()
    assert not at.download_button  # the files prepared before are not offered any more
    assert "导出需要分析员或管理员角色" in page_text(at)
    # a second session prepared its own export; the role changes before its next click
    other = open_page("search", role="admin")
    set_role_only(engine, "admin", "duty")
    other.button(key="q_prepare").click().run()
    assert not other.download_button
    assert audit_actions(engine) == [("analyst", "export.search")]


def test_report_generation_and_downloads_recheck_the_user(open_page: OpenPage, engine: Engine) -> None:
    at = open_page("reports", role="analyst")
    at.multiselect(key="r_formats").set_value(["xlsx"])
    set_role_only(engine, "analyst", "official")
    at.button(key="r_generate").click().run()
    assert not at.exception
    with engine.connect() as conn:
        assert conn.execute(select(s.report_runs.c.id)).all() == []
    assert any(e.value == auth.DENIED for e in at.error)


def test_a_password_reset_ends_the_users_other_sessions(open_page: OpenPage, engine: Engine) -> None:
    first, second = log_in("analyst"), log_in("analyst")
    assert logged_in(first) and logged_in(second)
    admin = open_page("users", role="admin")
    admin.selectbox(key="u_who").select("analyst")
    admin.text_input(key="u_password").input("a brand new pw 1")
    admin.button(key="u_set_pw").click().run()
    assert not admin.exception and ("admin", "user.set-password") in audit_actions(engine)
    for session in (first, second):
        session.run()
        assert not logged_in(session)
        assert any("请重新登录" in w.value for w in session.warning)
    assert logged_in(log_in("analyst", "a brand new pw 1"))
    assert not logged_in(log_in("analyst"))  # the old password is gone


def test_an_admin_resetting_their_own_password_keeps_this_session_only(
    open_page: OpenPage, engine: Engine
) -> None:
    here, elsewhere = open_page("users", role="admin"), open_page("overview", role="admin")
    here.selectbox(key="u_who").select("admin")
    here.text_input(key="u_password").input("admin new pw 22")
    here.button(key="u_set_pw").click().run()
    assert not here.exception
    assert here.title[0].value == "用户管理" and logged_in(here)
    here.run()
    assert logged_in(here)
    elsewhere.run()
    assert not logged_in(elsewhere)


def test_role_changes_and_disabling_end_sessions(seeded: SeedFacts, app_config: Path, engine: Engine) -> None:
    duty, official = log_in("duty"), log_in("official")
    auth.set_role(engine, "duty", "duty")  # no change: the session goes on
    duty.run()
    assert logged_in(duty)
    auth.set_role(engine, "duty", "analyst")  # as `sensing users set-role` does
    duty.run()
    assert not logged_in(duty)
    auth.set_active(engine, "official", False)
    auth.set_active(engine, "official", True)  # enabled again: the old session stays ended
    official.run()
    assert not logged_in(official)
    assert logged_in(log_in("official"))


def test_a_lockout_survives_a_new_browser_session(
    seeded: SeedFacts, app_config: Path, engine: Engine
) -> None:
    from dashboard import login

    at = log_in("analyst", "wrong password")
    for _ in range(login.ACCOUNT_THROTTLE.max_failures - 1):
        at.text_input[0].input("analyst")
        at.text_input[1].input("wrong password")
        at.button[0].click().run()
    assert any("已暂时锁定" in e.value for e in at.error)
    fresh = log_in("analyst")  # a new browser session with the right password
    assert not logged_in(fresh)
    assert any("已暂时锁定" in e.value for e in fresh.error)
    actions = audit_actions(engine)
    assert actions.count(("analyst", "login.failed")) == login.ACCOUNT_THROTTLE.max_failures
    assert ("analyst", "login.locked") in actions and ("analyst", "login") not in actions
    assert logged_in(log_in("duty"))  # another account from the same address is not locked


def test_logging_out_forgets_what_the_session_held(open_page: OpenPage) -> None:
    at = open_page("search", role="analyst")
    at.button(key="q_prepare").click().run()
    assert "search_export" in at.session_state
    at.sidebar.button(key="logout").click().run()
    assert not logged_in(at)
    assert "search_export" not in at.session_state  # the next user of this browser cannot download it
