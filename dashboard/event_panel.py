"""Effect tracking: events marked on an issue (政策出台 / 现场处置 / 官方回应) and the reaction before and after.

Used by the topic view of 热点话题 (an issue is a topic), by 诉求分类 (a category, optionally in
one province) and by 专题监测 (a subject). Officials, analysts and admins may mark an event (audit-logged by
:func:`storage.events.add_event`). For each event the page compares the ``hours`` after it with
the ``hours`` before it (:func:`analytics.effect.estimate_effect`, first copies from the rollups);
an event more recent than ``hours`` is compared over the hours observed since, on both sides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from analytics.effect import EVENT_KINDS, EffectEstimate, estimate_effect
from dashboard import auth, charts, data
from dashboard.context import PageContext
from dashboard.markdown import escape_md
from dashboard.tables import local_time
from storage.events import add_event

log = logging.getLogger(__name__)
WINDOWS = {"24 小时": 24, "48 小时": 48, "72 小时": 72, "7 天": 168}
DEFAULT_WINDOW = "72 小时"
MAX_EVENTS = 10  # newest shown with their effect
FLASH = "event_flash"


@dataclass(frozen=True)
class Issue:
    """What an event is marked on: a topic, a category (x province; None: every region) or a 专题."""

    name: str
    topic_id: int | None = None
    category: str | None = None
    province: str | None = None
    subject_id: int | None = None


def compared_hours(at: datetime, now: datetime, hours: int) -> int:
    """The window compared on each side: ``hours``, or the whole hours observed since ``at`` (0: none)."""
    seen = (min(now, at + timedelta(hours=hours)) - at).total_seconds() / 3600
    return hours if seen >= hours else max(0, int(seen))


def window_frame(series: pd.DataFrame, at: datetime, hours: int, now: datetime, tz: str) -> pd.DataFrame:
    """Bins of ``hours // 24`` hours over ``[at - hours, min(at + hours, now))`` in local time: n and share."""
    step = max(1, hours // 24)
    lo, hi = at - timedelta(hours=hours), min(at + timedelta(hours=hours), now)
    hourly = series["n"].astype("int64").to_frame().assign(neg=series["neg"].astype("int64"))
    hourly = hourly[(hourly.index >= lo) & (hourly.index < hi)]
    edges = pd.date_range(lo, hi, freq=f"{step}h", inclusive="left")
    if len(edges) == 0:
        return pd.DataFrame(columns=["bucket", "n", "share"])
    index = edges.searchsorted(hourly.index, side="right") - 1
    binned = hourly.groupby(index)[["n", "neg"]].sum().reindex(range(len(edges)), fill_value=0)
    share = binned["neg"] / binned["n"].where(binned["n"] > 0)
    return pd.DataFrame(
        {
            "bucket": edges.tz_convert(tz).tz_localize(None),
            "n": binned["n"].to_numpy(),
            "share": share.to_numpy(),
        }
    )


def _add(ctx: PageContext, issue: Issue, key: str) -> None:
    """Record the event from the form's values (read at click time), if the user may still mark events."""
    state = st.session_state
    user = auth.authorize(data.engine(), "events")
    if user is None:
        state[FLASH] = ("error", auth.DENIED)
        return
    picked = state.get(f"{key}_at")
    if not isinstance(picked, datetime):
        state[FLASH] = ("error", "请填写事件时间。")
        return
    at = picked.replace(tzinfo=ZoneInfo(ctx.tz)).astimezone(ZoneInfo("UTC"))
    if at > ctx.now + timedelta(minutes=5):
        state[FLASH] = ("error", "事件时间不能晚于现在。")
        return
    kind = state.get(f"{key}_kind") or EVENT_KINDS[-1]
    note = (state.get(f"{key}_note") or "").strip() or None
    event_id = add_event(
        data.engine(), kind, at, user.username, topic_id=issue.topic_id, category=issue.category,
        province=issue.province, subject_id=issue.subject_id, note=note,
    )  # fmt: skip
    data.clear_caches()
    state[FLASH] = ("ok", f"已标记事件 #{event_id}：{kind}（{picked:%Y-%m-%d %H:%M}）。")


def event_form(ctx: PageContext, issue: Issue, key: str) -> None:
    """The form to mark an event on ``issue`` (roles with the ``events`` permission)."""
    if not ctx.can("events"):
        st.caption("标记事件需要领导、分析员或管理员角色。")
        return
    local_now = ctx.now.astimezone(ZoneInfo(ctx.tz)).replace(tzinfo=None, second=0, microsecond=0)
    default = local_now.replace(minute=local_now.minute // 15 * 15)
    with st.form(f"{key}_form", clear_on_submit=True, border=True):
        c1, c2, c3 = st.columns([1, 2, 3])
        c1.selectbox("事件类型", EVENT_KINDS, index=len(EVENT_KINDS) - 1, key=f"{key}_kind")
        c2.datetime_input(
            "发生时间", value=default, max_value=local_now, key=f"{key}_at", format="YYYY-MM-DD"
        )
        c3.text_input("说明（可选）", key=f"{key}_note", max_chars=200)
        st.form_submit_button("标记事件", key=f"{key}_submit", on_click=_add, args=(ctx, issue, key))


def show_effect(ctx: PageContext, event: dict[str, Any], hours: int, key: str) -> EffectEstimate | None:
    """Metrics, the plain-words estimate and the chart of one event."""
    at = pd.Timestamp(event["at"]).tz_convert("UTC").to_pydatetime()
    window = compared_hours(at, ctx.now, hours)
    if window == 0:
        st.info("事件发生在当前数据之后，暂无可比较的数据。")
        return None
    series = data.issue_series(ctx.url, int(event["id"]), hours)
    est = estimate_effect(series, at, str(event["kind"]), window)
    m1, m2, m3 = st.columns(3)
    m1.metric(f"事件前 {window} 小时（条）", f"{est.n_before:,}")
    m2.metric(f"事件后 {window} 小时（条）", f"{est.n_after:,}", f"{est.n_after - est.n_before:+,}")
    change = None if est.neg_share_change is None else f"{est.neg_share_change * 100:+.1f} 个百分点"
    m3.metric(
        "负面占比（前 → 后）",
        f"{data.pct(est.neg_share_before)} → {data.pct(est.neg_share_after)}",
        change,
        delta_color="inverse",
    )
    st.text(est.summary)
    if window < hours:
        st.caption(f"事件后仅有 {window} 小时的数据：前后各按 {window} 小时比较。")
    frame = window_frame(series, at, hours, ctx.now, ctx.tz)

    def local(ts: datetime) -> pd.Timestamp:
        return pd.Timestamp(ts).tz_convert(ctx.tz).tz_localize(None)

    span = timedelta(hours=window)
    levels = [
        (local(at - span), local(at), est.neg_share_before, f"事件前 {window} 小时负面占比"),
        (local(at), local(at + span), est.neg_share_after, f"事件后 {window} 小时负面占比"),
    ]
    title = f"事件前后声量与负面占比（前后各 {hours} 小时）"
    fig = charts.event_window(frame, local(at), str(event["kind"]), title, levels)
    st.plotly_chart(fig, key=f"{key}_chart_{event['id']}")
    return est


def render_events(ctx: PageContext, issue: Issue, key: str) -> None:
    """The issue's events with their effect, and the form to mark a new one."""
    flash = st.session_state.pop(FLASH, None)
    if flash:
        (st.success if flash[0] == "ok" else st.error)(escape_md(flash[1]))
    event_form(ctx, issue, key)
    found = data.events(ctx.url, issue.topic_id, issue.category, issue.province, issue.subject_id)
    if not found:
        st.info("该议题尚未标记事件。")
        return
    st.dataframe(
        pd.DataFrame(
            {
                "编号": [int(e["id"]) for e in found],
                "时间": local_time(pd.Series([e["at"] for e in found]), ctx.tz),
                "类型": [str(e["kind"]) for e in found],
                "说明": [str(e["note"] or "") for e in found],
                "记录人": [str(e["created_by"]) for e in found],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    choice = st.selectbox(
        "比较窗口（事件前后各）",
        list(WINDOWS),
        index=list(WINDOWS).index(DEFAULT_WINDOW),
        key=f"{key}_window",
    )
    for i, event in enumerate(found[:MAX_EVENTS]):
        when = local_time(pd.Series([event["at"]]), ctx.tz).iloc[0]
        with st.expander(escape_md(f"#{event['id']} {event['kind']}（{when}）"), expanded=i == 0):
            if event["note"]:
                st.text(f"说明：{event['note']}")
            show_effect(ctx, event, WINDOWS[choice], key)
    if len(found) > MAX_EVENTS:
        st.caption(f"另有 {len(found) - MAX_EVENTS} 个更早的事件未展开。")
