"""An archive opens on its data: when the default period is empty the pages say where the data
ends and jump there in one click; the reports page offers the newest complete week with data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from storage.extent import data_extent
from storage.types import iso_week
from tests.dashboard.conftest import APP, NOW
from tests.seed import SeedFacts

LATER = NOW + timedelta(days=400)  # the store holds last year's archive and nothing newer
TZ = ZoneInfo("Asia/Shanghai")


def open_later(page: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state["sensing_now"] = LATER
    at.session_state["auth_user"] = {
        "username": "admin",
        "role": "admin",
        "display_name": "测试admin",
        "epoch": 0,
    }
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def test_an_empty_default_period_says_where_the_data_ends_and_jumps_there(
    seeded: SeedFacts, app_config: object, engine: Engine
) -> None:
    newest = data_extent(engine)[1]
    assert newest is not None
    last_day = newest.astimezone(TZ).date()
    at = open_later("overview")
    assert [i.value for i in at.info if "数据截至" in i.value] == [
        f"所选时段没有数据：数据截至 {last_day:%Y-%m-%d}。"
    ]
    at.button(key="f_newest").click().run()
    assert not at.exception, at.exception
    assert at.session_state["f_range"] == "自定义日期"
    assert tuple(at.session_state["f_dates"]) == (last_day - timedelta(days=6), last_day)
    assert not [i for i in at.info if "数据截至" in i.value]
    period = " ".join(t.value for t in at.text)
    assert f"{last_day - timedelta(days=6):%Y-%m-%d} 00:00 至 {last_day:%Y-%m-%d} 23:59" in period


def test_the_reports_page_offers_the_newest_week_with_data(
    seeded: SeedFacts, app_config: object, engine: Engine
) -> None:
    newest = data_extent(engine)[1]
    assert newest is not None
    at = open_later("reports")
    assert at.selectbox(key="r_week").value == iso_week(newest.astimezone(TZ).date())


def test_replayed_alerts_are_shown_apart_on_the_alert_page(
    seeded: SeedFacts, app_config: object, engine: Engine, open_page: Any
) -> None:
    from storage.alert_replays import store_replays

    at_time = NOW - timedelta(days=1)
    row = {"rule": "gas", "key": "watchlist", "severity": "warning", "title": "监测关键词命中 3 起：燃气",
           "message": "回放", "evidence": {}, "value": 3.0, "baseline": None, "first_seen": at_time,
           "last_seen": at_time, "replayed_at": NOW}  # fmt: skip
    store_replays(engine, ["gas"], at_time - timedelta(days=1), NOW, [row])
    at = open_page("alerts")
    (box,) = [e for e in at.expander if "回溯预警" in e.label]
    assert "本期 1 条" in box.label
    table = box.dataframe[0].value
    assert list(table["标题"]) == ["监测关键词命中 3 起：燃气"]
    real = list(at.dataframe[-1].value["标题"])  # 本期全部预警
    assert real and "监测关键词命中 3 起：燃气" not in real
