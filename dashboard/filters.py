"""The sidebar's global filters (time range, channel, source, category, region, sentiment, keyword, 专题).

The entry script renders them once per run, before the page, and stores the resulting
:class:`~storage.queries.QueryFilters` in the session; every page reads it with :func:`current`.
Periods are whole hours: "last 7 days" ends at the end of the current hour, a custom date range
covers whole local days.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from kernel import labels
from storage.queries import QueryFilters, last_hours
from storage.types import utcnow

log = logging.getLogger(__name__)

PRESETS = {"最近24小时": 24, "最近3天": 72, "最近7天": 168, "最近14天": 336, "最近30天": 720}
CUSTOM = "自定义日期"
DEFAULT_PRESET = "最近7天"
STATE_KEY = "query_filters"
NOW_KEY = "sensing_now"  # tests pin the clock here; never set by the UI
WIDGET_KEYS = (
    "f_range",
    "f_dates",
    "f_channels",
    "f_sources",
    "f_categories",
    "f_provinces",
    "f_sentiments",
    "f_keyword",
    "f_subject",
)
SUBJECT_NAMES_KEY = "f_subject_names"  # id -> name, for the caption


def now() -> datetime:
    """The current time (UTC), unless a test pinned it in the session."""
    pinned = st.session_state.get(NOW_KEY)
    return pinned if isinstance(pinned, datetime) else utcnow()


def local_day_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """[local midnight of ``start``, local midnight after ``end``) as UTC datetimes."""
    zone = ZoneInfo(tz)
    lo = datetime.combine(start, time.min, tzinfo=zone).astimezone(ZoneInfo("UTC"))
    hi = datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone).astimezone(ZoneInfo("UTC"))
    return lo.replace(minute=0, second=0, microsecond=0), hi.replace(minute=0, second=0, microsecond=0)


def _reset() -> None:
    for key in WIDGET_KEYS:
        st.session_state.pop(key, None)


def newest_days(newest: datetime, hours: int, tz: str) -> tuple[date, date]:
    """The local days of a preset's length ending on the day of ``newest`` (the newest data)."""
    last = newest.astimezone(ZoneInfo(tz)).date()
    return last - timedelta(days=max(1, hours // 24) - 1), last


def _jump_to(days: tuple[date, date]) -> None:
    st.session_state["f_range"] = CUSTOM
    st.session_state["f_dates"] = days


def offer_newest_data(start: datetime, newest: datetime | None, hours: int, tz: str) -> None:
    """When the period begins after the newest data (an imported archive), say where the data ends
    and offer the same length of time ending there, in one click."""
    if newest is None or newest >= start:
        return
    days = newest_days(newest, hours, tz)
    st.info(f"所选时段没有数据：数据截至 {days[1]:%Y-%m-%d}。")
    span = "当天" if days[0] == days[1] else f"{days[0]:%Y-%m-%d} 至 {days[1]:%Y-%m-%d}"
    st.button(f"查看最新有数据的时段（{span}）", key="f_newest", on_click=_jump_to, args=(days,))


def render_sidebar(
    options: dict[str, list[str]],
    tz: str,
    subjects: Sequence[tuple[int, str]] = (),
    newest: datetime | None = None,
) -> QueryFilters:
    """Draw the filters in the sidebar and return (and store) the resulting filters.

    ``subjects``: the (id, name) of the subjects offered by the 专题 filter. ``newest`` is the
    publication time of the newest data: when a preset period starts after it, the page says so and
    offers the newest period with data (:func:`offer_newest_data`).
    """
    sb = st.sidebar
    sb.subheader("筛选条件")
    # a default only when the jump to the newest data has not set the widget already
    index: dict[str, Any] = (
        {} if "f_range" in st.session_state else {"index": list(PRESETS).index(DEFAULT_PRESET)}
    )
    preset = sb.selectbox("时间范围", [*PRESETS, CUSTOM], key="f_range", **index)
    current = now()
    if preset == CUSTOM:
        today = current.astimezone(ZoneInfo(tz)).date()
        value: dict[str, Any] = (
            {} if "f_dates" in st.session_state else {"value": (today - timedelta(days=6), today)}
        )
        picked = sb.date_input("日期", key="f_dates", max_value=today, **value)
        days: list[date] = [
            d for d in (picked if isinstance(picked, tuple) else (picked,)) if isinstance(d, date)
        ]
        start_day = days[0] if days else today
        end_day = days[-1] if days else today
        start, end = local_day_bounds(start_day, end_day, tz)
    else:
        start, end = last_hours(current, PRESETS[preset])
        offer_newest_data(start, newest, PRESETS[preset], tz)
    channels = sb.multiselect(
        "渠道",
        options["channels"],
        key="f_channels",
        format_func=lambda c: labels.label("channel", c),
        placeholder="全部",
    )
    sources = sb.multiselect("数据源", options["sources"], key="f_sources", placeholder="全部")
    categories = sb.multiselect(
        "诉求类别", options["categories"], key="f_categories", format_func=labels.place, placeholder="全部"
    )
    provinces = sb.multiselect(
        "地区（省级）", options["provinces"], key="f_provinces", format_func=labels.place, placeholder="全部"
    )
    sentiments = sb.multiselect(
        "情感",
        list(labels.SENTIMENT_ORDER),
        key="f_sentiments",
        format_func=lambda v: labels.label("sentiment", v),
        placeholder="全部",
    )
    keyword = sb.text_input("关键词", key="f_keyword", max_chars=100, placeholder="标题或正文包含")
    names = dict(subjects)
    st.session_state[SUBJECT_NAMES_KEY] = names
    subject_id = sb.selectbox(
        "专题",
        [None, *names],
        key="f_subject",
        format_func=lambda i: "全部" if i is None else names.get(i, str(i)),
    )
    sb.button("重置筛选", on_click=_reset, key="f_reset")
    filters = QueryFilters(
        start=start,
        end=end,
        channels=tuple(channels),
        sources=tuple(sources),
        categories=tuple(categories),
        provinces=tuple(provinces),
        sentiments=tuple(sentiments),
        keyword=keyword.strip(),
        subject_id=subject_id if subject_id in names else None,
    )
    st.session_state[STATE_KEY] = filters
    return filters


def current() -> QueryFilters:
    """The filters the entry script stored for this run."""
    filters = st.session_state.get(STATE_KEY)
    if not isinstance(filters, QueryFilters):
        start, end = last_hours(now(), PRESETS[DEFAULT_PRESET])
        filters = QueryFilters(start=start, end=end)
    return filters


def refreshed(f: QueryFilters) -> QueryFilters:
    """For auto-refreshing fragments (which rerun without the sidebar): a preset period moved to now."""
    preset = st.session_state.get("f_range", DEFAULT_PRESET)
    if preset not in PRESETS:
        return f
    start, end = last_hours(now(), PRESETS[preset])
    return f.with_period(start, end)


def describe(f: QueryFilters, tz: str) -> str:
    """One line for the page caption: period in local time and the active filters (plain text)."""
    zone = ZoneInfo(tz)
    last = f.end - timedelta(seconds=1)
    parts = [f"{f.start.astimezone(zone):%Y-%m-%d %H:%M} 至 {last.astimezone(zone):%Y-%m-%d %H:%M}"]
    names: dict[str, Any] = {
        "渠道": [labels.label("channel", c) for c in f.channels],
        "数据源": list(f.sources),
        "类别": [labels.place(c) for c in f.categories],
        "地区": [labels.place(p) for p in f.provinces],
        "情感": [labels.label("sentiment", s) for s in f.sentiments],
    }
    parts += [f"{k}：{'、'.join(v)}" for k, v in names.items() if v]
    if f.keyword:
        parts.append(f"关键词：{f.keyword}")
    if f.subject_id is not None:
        name = (st.session_state.get(SUBJECT_NAMES_KEY) or {}).get(f.subject_id, f"#{f.subject_id}")
        parts.append(f"专题：{name}")
    return "；".join(parts)
