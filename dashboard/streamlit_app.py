"""Entry script of the dashboard: ``streamlit run dashboard/streamlit_app.py`` (see ``sensing dashboard``).

It configures the page, re-reads the logged-in user from the database on every run (or asks for
a login), draws the global filters in the sidebar and hands over to the selected page in
``app_pages/`` through ``st.navigation``. Pages the stored role may not use are not offered (the
review queue is for analysts and admins, user management for admins).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts dashboard/ on the path, not the repo root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from streamlit.navigation.page import StreamlitPage  # noqa: E402

from dashboard import auth, data, filters, login  # noqa: E402
from kernel import labels  # noqa: E402
from kernel.settings import ConfigError  # noqa: E402

PAGES = Path(__file__).with_name("app_pages")
ASSETS = Path(__file__).with_name("assets")  # local files only: a :material: page icon is fetched from a CDN
NAVIGATION = (  # file, title, icon, url path, permission needed to see the page
    ("overview.py", "总览", ":material/dashboard:", "overview", "read"),
    ("topics.py", "热点话题", ":material/local_fire_department:", "topics", "read"),
    ("sentiment.py", "情感与情绪", ":material/mood:", "sentiment", "read"),
    ("categories.py", "诉求分类", ":material/category:", "categories", "read"),
    ("regions.py", "地域分布", ":material/map:", "regions", "read"),
    ("replies.py", "答复质量", ":material/rate_review:", "replies", "read"),
    ("alerts.py", "预警中心", ":material/notifications_active:", "alerts", "read"),
    ("subjects.py", "专题监测", ":material/track_changes:", "subjects", "read"),
    ("search.py", "检索", ":material/search:", "search", "read"),
    ("review.py", "复核队列", ":material/fact_check:", "review", "correct"),
    ("reports.py", "报告", ":material/description:", "reports", "read"),
    ("ask.py", "智能问答", ":material/forum:", "ask", "ask"),
    ("sources.py", "数据源健康", ":material/monitor_heart:", "sources", "read"),
    ("users.py", "用户管理", ":material/manage_accounts:", "users", "users"),
)


def main() -> None:
    icon = ASSETS / "favicon.png"
    st.set_page_config(
        page_title="民声 · 舆情态势感知", page_icon=str(icon) if icon.exists() else None, layout="wide"
    )
    try:
        cfg = data.settings()
        engine = data.engine()
    except ConfigError as exc:
        st.error("配置文件有误，请联系管理员：")
        st.text("\n".join(exc.problems))
        st.stop()
    # the role and the enabled flag as stored now, on every run: a session ends when its user is
    # disabled or their password or role has changed since it logged in
    user = auth.session_user(engine)
    if user is None:
        # Resolve the address's page (hidden) so that it, and its query (an alert link's ?alert=ID),
        # is still the page shown after the login rerun; without this every login lands on 总览.
        st.navigation(pages_for(None), position="hidden")
        if login.login_form(engine) is None:
            st.stop()
        st.rerun()
    assert user is not None
    with st.sidebar:
        st.text(f"{user.name}（{labels.label('role', user.role)}）")
        if st.button("退出登录", key="logout"):
            auth.logout()
            st.rerun()
    url = data.db_url()
    subjects = [(int(r["id"]), str(r["name"])) for r in data.subjects(url)]
    filters.render_sidebar(data.options(url), cfg.app.timezone, subjects, newest=data.newest_data(url))
    st.navigation(pages_for(user.role), expanded=True).run()


def pages_for(role: str | None) -> list[StreamlitPage]:
    """The pages ``role`` may use (every page for None: before login, only to resolve the address)."""
    return [
        st.Page(PAGES / f, title=t, icon=i, url_path=u, default=(u == "overview"))
        for f, t, i, u, permission in NAVIGATION
        if role is None or auth.can(role, permission)
    ]


main()
