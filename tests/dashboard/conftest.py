"""Fixtures for dashboard tests: a seeded database on both backends, a config pointing at it, users per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
import yaml
from argon2 import PasswordHasher
from sqlalchemy import Engine, insert
from streamlit.testing.v1 import AppTest

from dashboard import auth
from storage import schema as s
from storage.db import write_tx
from tests.dashboard.followup_seed import SeededReply, seed_replies
from tests.seed import SeedFacts, seed_database

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboard" / "streamlit_app.py"
NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
PASSWORDS = {role: f"{role}-secret-pw" for role in auth.ROLES}
PAGE_TITLES = {
    "overview": "总览", "topics": "热点话题", "sentiment": "情感与情绪", "categories": "诉求分类", "regions": "地域分布",
    "alerts": "预警中心", "search": "检索", "reports": "报告", "sources": "数据源健康", "users": "用户管理",
    "replies": "答复质量", "review": "复核队列", "ask": "智能问答", "subjects": "专题监测",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_streamlit_caches() -> Iterator[None]:
    """Cached loaders are keyed on the URL, which the PostgreSQL tests share: start every test clean."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="session", autouse=True)
def _cheap_argon2() -> Iterator[None]:
    """Argon2 is slow on purpose (about 0.5 s a hash here); tests use the same algorithm, cheaply."""
    production = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth._hasher = production


@pytest.fixture(scope="session")
def password_hashes() -> dict[str, str]:
    """Argon2 hashing is slow on purpose: hash each test password once per session."""
    return {role: auth.hash_password(pw) for role, pw in PASSWORDS.items()}


@pytest.fixture
def seeded(engine: Engine, password_hashes: dict[str, str]) -> SeedFacts:
    """The seed database plus one user per role (user name = role, password in PASSWORDS)."""
    facts = seed_database(engine, NOW)
    rows = [
        {
            "username": role,
            "password_hash": h,
            "role": role,
            "display_name": f"测试{role}",
            "active": True,
            "created_at": NOW,
        }
        for role, h in password_hashes.items()
    ]
    with write_tx(engine) as conn:
        conn.execute(insert(s.users), rows)
    return facts


@pytest.fixture
def app_config(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file for the dashboard on the test database; SENSING_CONFIG points at it."""
    for key in list(__import__("os").environ):
        if key.startswith("SENSING_") and not key.startswith("SENSING_TEST_"):
            monkeypatch.delenv(key)
    cfg = {
        "database": {"url": db_url},
        "reports": {"out_dir": str(tmp_path / "reports"), "formats": ["xlsx"]},
        "alerts": {"rules": [{"name": "source_silent", "kind": "source_silence", "silence_minutes": 120}]},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("SENSING_CONFIG", str(path))
    return path


@pytest.fixture
def replies(seeded: SeedFacts, engine: Engine) -> list[SeededReply]:
    """Scored replies on some of the seed's hotline messages (see tests/dashboard/followup_seed.py)."""
    return seed_replies(engine, seeded, NOW)


OpenPage = Callable[..., AppTest]


@pytest.fixture
def open_page(seeded: SeedFacts, app_config: Path) -> OpenPage:
    """``open_page("alerts", role="duty")``: an AppTest logged in as ``role`` and showing that page
    (``query``: the address's query parameters)."""

    def _open(
        page: str, role: str = "admin", timeout: float = 30, query: dict[str, str] | None = None
    ) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        for name, value in (query or {}).items():
            at.query_params[name] = value
        at.session_state["sensing_now"] = NOW
        at.session_state["auth_user"] = {
            "username": role,
            "role": role,
            "display_name": f"测试{role}",
            "epoch": 0,
        }
        # url_path == file stem, so the page can be chosen before the first run (saves rendering 总览)
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, at.exception
        title = at.title[0].value if at.title else None
        assert title == PAGE_TITLES[page], f"expected page {page}, got {title}"
        return at

    return _open
