"""The real dashboard in Debian's Chromium: log in, visit every page, acknowledge an alert, export a CSV,
open a message's 相似留言, correct a tag from the review queue and open an alert from its notification link.

Starts ``sensing dashboard`` on a seeded SQLite database at a free 127.0.0.1 port and drives
``/usr/bin/chromium`` through Playwright (never ``playwright install``). Screenshots of every page
go to ``var/screenshots/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select, update

from dashboard import auth
from storage import schema as s
from storage.db import make_engine, write_tx
from storage.events import add_event
from storage.migrate import upgrade_database
from storage.rollups.refresh import refresh_rollups
from storage.types import utcnow
from tests.dashboard.followup_seed import seed_replies
from tests.seed import SeedFacts, seed_database

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # about 50 s

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / "var" / "screenshots"
PASSWORD = "browser-admin-pw"
PAGES = [  # (navigation label, whether the page must show charts)
    ("热点话题", True),
    ("情感与情绪", True),
    ("诉求分类", True),
    ("地域分布", True),
    ("答复质量", True),
    ("预警中心", False),
    ("专题监测", False),  # no subject yet: one is created in the browser, then its charts are checked
    ("检索", False),
    ("复核队列", False),
    ("报告", False),
    ("数据源健康", True),
    ("用户管理", False),
]
LOWER_SECTIONS = {
    "热点话题": "事件与效果",
    "诉求分类": "事件与效果（类别 × 地区）",
    "数据源健康": "模型漂移（按数据源和周）",
}
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shift_newest_week(engine: Engine, facts: SeedFacts) -> None:
    """The hotline's model says "negative" for every document of the newest week: a drift to highlight."""
    newest = max(d.published_at for d in facts.docs).isocalendar()[:2]
    ids = [
        d.id for d in facts.docs if d.source == "hotline_sim" and d.published_at.isocalendar()[:2] == newest
    ]
    with write_tx(engine) as conn:
        conn.execute(
            update(s.doc_tags)
            .where(s.doc_tags.c.document_id.in_(ids))
            .values(sentiment="negative", sentiment_score=0.3)
        )
    refresh_rollups(engine, full=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"dashboard exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"dashboard not healthy after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SeedFacts, str]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-microhei (make system-deps)"
        )
    if (
        shutil.which("fc-list")
        and not subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    ):
        pytest.fail("no Chinese font installed: apt-get install -y fonts-wqy-microhei (make system-deps)")
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp / 'dashboard.db'}"
    engine = make_engine(url)
    upgrade_database(engine)
    now = utcnow()
    facts = seed_database(engine, now)
    seed_replies(engine, facts, now)
    for topic_id in facts.topics:  # whichever topic the page opens has an event with its effect
        add_event(
            engine, "官方回应", now - timedelta(hours=30), "admin", topic_id=topic_id, note="召开通气会"
        )
    shift_newest_week(engine, facts)
    auth.add_user(engine, "admin", "admin", PASSWORD, "管理员")
    engine.dispose()
    config = tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump({"database": {"url": url}, "reports": {"out_dir": str(tmp / "reports")}}),
        encoding="utf-8",
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENSING_")}
    log = tmp / "dashboard.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sensing", "dashboard", "--config", str(config), "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log)
        yield base, facts, url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def settle(page: Any, timeout: float = 30, quiet: float = 0.8) -> None:
    """Wait until Streamlit has finished the run: no running indicator and the page unchanged for ``quiet`` s."""
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"], [data-stale="true"]').count()
        size = page.evaluate("document.body.innerHTML.length")
        if running or size != last:
            last, stable_since = size, time.monotonic()
        elif time.monotonic() - stable_since >= quiet:
            return
        page.wait_for_timeout(200)
    pytest.fail(f"page still changing after {timeout}s")


def log_in(page: Any, shot: Path | None = None) -> None:
    page.get_by_label("用户名").fill("admin")
    page.get_by_label("密码").fill(PASSWORD)
    if shot is not None:
        page.screenshot(path=str(shot))
    page.get_by_role("button", name="登录").click()


def check_page(page: Any, title: str, needs_charts: bool) -> None:
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=30_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {title}"
    if needs_charts:
        plots = page.locator(".js-plotly-plot")
        plots.first.wait_for(timeout=30_000)
        for i in range(plots.count()):
            drawn = plots.nth(i).locator("g.trace, g.heatmaplayer image, g.imagelayer image").count()
            assert drawn > 0, f"chart {i} on {title} is empty"


def test_dashboard_in_chromium(live_app: tuple[str, SeedFacts, str], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    base, facts, url = live_app
    SHOTS.mkdir(parents=True, exist_ok=True)
    began = utcnow()  # the server runs on the real clock: an hour may turn during the test
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(
                viewport={"width": 1440, "height": 2400}, locale="zh-CN", accept_downloads=True
            )
            outside: list[str] = []  # the dashboard must work offline: nothing may leave 127.0.0.1
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
            page.goto(base)
            log_in(page, SHOTS / "00-login.png")
            check_page(page, "总览", True)
            volume = page.locator('[data-testid="stMetric"]', has_text="声量").locator(
                '[data-testid="stMetricValue"]'
            )
            shown = volume.inner_text().strip()
            assert shown in {f"{facts.volume(a, b):,}" for a, b in facts.periods(7, began, utcnow())}
            page.screenshot(path=str(SHOTS / "01-总览.png"), full_page=True)
            nav = page.locator('[data-testid="stSidebarNav"]')
            for i, (title, needs_charts) in enumerate(PAGES, start=2):
                nav.get_by_role("link", name=title, exact=True).click()
                check_page(page, title, needs_charts)
                if title == "预警中心":
                    acknowledge_first_open_alert(page, facts, url)
                if title == "专题监测":
                    create_subject(page, url)
                if title == "检索":
                    export_csv(page, facts, tmp_path)
                    similar_messages(page, facts, url)
                if title == "复核队列":
                    correct_first_in_queue(page, url)
                page.screenshot(path=str(SHOTS / f"{i:02d}-{title}.png"), full_page=True)
                if (
                    title in LOWER_SECTIONS
                ):  # the page scrolls inside its container: a second shot further down
                    page.get_by_role(
                        "heading", name=LOWER_SECTIONS[title], exact=True
                    ).scroll_into_view_if_needed()
                    page.screenshot(path=str(SHOTS / f"{i:02d}b-{title}.png"))
            open_alert_link(page, base, facts)
            page.screenshot(path=str(SHOTS / f"{len(PAGES) + 2:02d}-预警链接.png"), full_page=True)
            assert not [u for u in outside if not u.startswith(("data:", "blob:"))], outside
        finally:
            browser.close()


def acknowledge_first_open_alert(page: Any, facts: SeedFacts, url: str) -> None:
    newest_open = max((a for a in facts.alerts if a["status"] == "open"), key=lambda a: a["last_seen"])
    page.get_by_role("button", name="确认", exact=True).click()
    page.get_by_text(f"预警 #{newest_open['id']} 已确认。").wait_for(timeout=30_000)
    settle(page)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(s.alerts).where(s.alerts.c.id == newest_open["id"])).mappings().one()
            audit = (
                conn.execute(select(s.audit_log.c.action).where(s.audit_log.c.user == "admin"))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert (row["status"], row["acked_by"]) == ("acknowledged", "admin")
    assert "alert.acknowledge" in audit


def create_subject(page: Any, url: str) -> None:
    """Create 燃气安全 on the page: it is backfilled, and its charts and spread view are drawn."""
    page.get_by_label("专题名称").fill("燃气安全")
    page.get_by_label("关键词表达式").fill("燃气 AND (泄漏 OR 检查)")
    page.get_by_role("button", name="创建并回溯匹配").click()
    page.get_by_text("专题「燃气安全」已保存").wait_for(timeout=60_000)
    page.get_by_role("heading", name="传播分析").wait_for(timeout=30_000)
    check_page(page, "专题监测", True)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            matched = conn.execute(select(s.subject_documents.c.document_id)).scalars().all()
    finally:
        engine.dispose()
    assert matched


def export_csv(page: Any, facts: SeedFacts, tmp_path: Path) -> None:
    began = utcnow()  # the export's "last 7 days" is taken at the click, on the real clock
    page.get_by_role("button", name="准备导出（最多 10,000 条）").click()
    button = page.get_by_role("button", name="下载 CSV")
    button.wait_for(timeout=30_000)
    with page.expect_download() as info:
        button.click()
    target = tmp_path / "export.csv"
    info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    expected = {
        sum(d.dup_of is None for d in facts.select(a, b, tagged_only=False))
        for a, b in facts.periods(7, began, utcnow())
    }
    assert len(rows) in expected
    assert {"编号", "内容（已脱敏）", "渠道"} <= set(rows[0])
    settle(page)


def similar_messages(page: Any, facts: SeedFacts, url: str) -> None:
    """A retold hotline case (real e5 embeddings, stored directly): 检索 hints at it and lists it first
    among the message's 相似留言; the page's screenshot is taken further down, on the panel."""
    from tests.dashboard.encoder_seed import add_retold_case, encode_documents

    engine = make_engine(url)
    try:
        newest = sorted((d for d in facts.docs if d.dup_of is None), key=lambda d: d.published_at)[-30:]
        encode_documents(engine, [d.id for d in newest], utcnow())
        case, retold = add_retold_case(engine, utcnow())
    finally:
        engine.dispose()
    page.get_by_label("搜索词").fill("锦绣花园")
    page.get_by_label("搜索词").press("Enter")
    page.locator('[data-testid="stMetric"]', has_text="匹配文档").get_by_text("2", exact=True).wait_for(
        timeout=30_000
    )
    settle(page)
    page.get_by_label("查看全文").click()
    page.get_by_role("option", name=f"#{case}", exact=True).click()
    page.get_by_role("heading", name="相似留言").wait_for(timeout=30_000)
    settle(page)
    hint = page.get_by_text(f"可能与 #{retold} 为同一诉求（语义相似", exact=False)
    assert hint.count() == 1, "the retold case is not hinted"
    assert page.get_by_text("编码层尚未处理此文档").count() == 0
    page.get_by_label("查看相似文档全文").click()
    page.get_by_role("option", name=f"#{retold}", exact=False).first.click()  # the nearest: listed first
    page.get_by_text("锦绣花园小区从周一起一直停水", exact=False).last.wait_for(timeout=30_000)
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.get_by_role("heading", name="相似留言").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "检索-相似留言.png"), full_page=True)


def correct_first_in_queue(page: Any, url: str) -> None:
    """One click on a label of the first queued document stores the correction (audit-logged)."""
    page.get_by_role("button", name="中性", exact=True).first.click()  # the first card's button
    page.get_by_text("已更正为", exact=False).first.wait_for(timeout=30_000)
    settle(page)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                select(s.corrections.c.field, s.corrections.c.value, s.corrections.c.user)
            ).all()
    finally:
        engine.dispose()
    assert stored == [("sentiment", "neutral", "admin")]


def open_alert_link(page: Any, base: str, facts: SeedFacts) -> None:
    """The link of an alert notification (``/alerts?alert=ID``) opens that alert, resolved or not."""
    resolved = next(a for a in facts.alerts if a["status"] == "resolved")
    page.goto(f"{base}/alerts?alert={resolved['id']}")  # a new browser session: log in first
    log_in(page)
    check_page(page, "预警中心", False)
    assert page.get_by_text(f"规则：{resolved['rule']}　对象：{resolved['key']}", exact=True).count() == 1
    assert "已解除" in page.locator('[data-testid="stMetric"]', has_text="状态").inner_text()
