"""What every page needs for one run: the user, the filters, the database key, the clock and the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import streamlit as st

from dashboard import auth, data, filters
from dashboard.auth import User
from kernel.settings import Settings
from storage.queries import QueryFilters


@dataclass(frozen=True)
class PageContext:
    """The state a page renders from."""

    user: User
    filters: QueryFilters
    url: str
    tz: str
    now: datetime
    settings: Settings

    def can(self, permission: str) -> bool:
        return auth.can(self.user.role, permission)


def page_context() -> PageContext:
    """The context of this run (stops the page when nobody is logged in)."""
    user = auth.current_user()
    if user is None:
        st.warning("请先登录。")
        st.stop()
    cfg = data.settings()
    return PageContext(
        user=user,
        filters=filters.current(),
        url=data.db_url(),
        tz=cfg.app.timezone,
        now=filters.now(),
        settings=cfg,
    )


def recheck_session() -> None:
    """In an auto-refreshing fragment, which reruns without the entry script: when the session has
    ended since (user disabled, password or role changed), rerun the whole app, which shows the login."""
    if auth.session_user(data.engine()) is None:
        st.rerun()


def page_header(title: str, ctx: PageContext, note: str | None = None) -> None:
    """The page title and, under it, the period and active filters (plain text, never Markdown)."""
    st.title(title)
    st.text(filters.describe(ctx.filters, ctx.tz) + (f"　{note}" if note else ""))
    if ctx.filters.needs_documents:
        st.caption("已按关键词或专题筛选：图表按文档实时统计，可能较慢。")
