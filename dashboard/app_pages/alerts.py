"""预警中心: open and recent alerts with their evidence and history; duty staff acknowledge, resolve, silence.

``?alert=ID`` (the link in alert notifications) opens that alert, even when it is outside the period.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import streamlit as st

from analytics.chance import describe_evidence
from dashboard import auth, data, filters
from dashboard.context import page_context, page_header, recheck_session
from dashboard.markdown import escape_md
from dashboard.tables import alert_table, document_table, local_time, replay_table
from kernel import labels

SILENCE_CHOICES = {"1 小时": 1, "2 小时": 2, "8 小时": 8, "24 小时": 24, "3 天": 72}
FLASH = "alerts_flash"

LINKED = "alerts_linked"  # the alert id of the address last opened


def linked_alert() -> int | None:
    """The alert named by the address (``/alerts?alert=ID``, the link in alert notifications)."""
    value = st.query_params.get("alert")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


ctx = page_context()
page_header("预警中心", ctx)
flash = st.session_state.pop(FLASH, None)
if flash:
    (st.success if flash[0] == "ok" else st.error)(escape_md(flash[1]))  # may quote stored text


@st.fragment(run_every=ctx.settings.dashboard.auto_refresh_seconds)
def live() -> None:
    recheck_session()
    f = filters.refreshed(ctx.filters)
    active = data.alerts(ctx.url, f, False)
    c1, c2, c3 = st.columns(3)
    c1.metric("未处理", int((active["status"] == "open").sum()) if not active.empty else 0)
    c2.metric("已确认待解除", int((active["status"] == "acknowledged").sum()) if not active.empty else 0)
    c3.metric("严重级别", int((active["severity"] == "critical").sum()) if not active.empty else 0)
    if active.empty:
        st.success("当前没有未解除的预警。")
    else:
        st.dataframe(alert_table(active, ctx.tz), hide_index=True, width="stretch")


live()

replays = data.replayed_alerts(ctx.url, ctx.filters)
if not replays.empty:  # apart from the real alerts: never notified, never acted on
    with st.expander(f"回溯预警（规则回放，未发送通知）：本期 {len(replays)} 条", expanded=False):
        st.caption("由 sensing alerts replay 按当前规则在历史数据上回放得到，表示当时会触发的预警。")
        st.dataframe(replay_table(replays, ctx.tz), hide_index=True, width="stretch")

recent = data.alerts(ctx.url, ctx.filters, True)
linked = linked_alert()
if linked is not None and linked not in set(recent["id"]):  # a link may name an alert outside the period
    found = data.alerts_by_ids(ctx.url, (linked,))
    if found.empty:
        st.warning(f"链接中的预警 #{linked} 不存在。")
    else:
        recent = pd.concat([found, recent], ignore_index=True) if not recent.empty else found
if recent.empty:
    st.info("所选范围内没有预警。")
    st.stop()

st.subheader("预警详情")
# option labels must not change when an alert changes state, or the widget forgets the selection
titles = {int(r.id): f"#{r.id} {r.title}" for r in recent.itertuples()}
if linked is not None and linked in titles and st.session_state.get(LINKED) != linked:
    st.session_state["alert_pick"] = linked  # open the linked alert once; the user may pick another after
    st.session_state[LINKED] = linked
alert_id = st.selectbox("选择预警", list(titles), format_func=lambda i: titles[i], key="alert_pick")
if linked is not None and alert_id != linked:
    st.query_params["alert"] = str(alert_id)  # the address keeps naming the alert shown
    st.session_state[LINKED] = alert_id
alert = recent.loc[recent["id"] == alert_id].iloc[0]

cols = st.columns(4)
cols[0].metric("级别", labels.label("severity", alert["severity"]))
cols[1].metric("状态", labels.label("status", alert["status"]))
cols[2].metric("当前值", "—" if pd.isna(alert["value"]) else f"{float(alert['value']):g}")
cols[3].metric("基线", "—" if pd.isna(alert["baseline"]) else f"{float(alert['baseline']):g}")
st.text(f"规则：{alert['rule']}　对象：{alert['key']}")
st.text(str(alert["message"]))
evidence: Any = alert["evidence"] or {}
unusual = describe_evidence(evidence) if isinstance(evidence, dict) else None
if unusual:  # how unusual the count is, from the detector's own tail probability
    st.text(f"异常程度：{unusual}")
when = local_time(pd.Series([alert["first_seen"], alert["last_seen"]]), ctx.tz)
st.text(f"首次触发：{when.iloc[0]}　最近触发：{when.iloc[1]}")
if pd.notna(alert["acked_by"]) and alert["acked_by"]:
    st.text(f"确认：{alert['acked_by']}（{local_time(pd.Series([alert['acked_at']]), ctx.tz).iloc[0]}）")
if pd.notna(alert["resolved_by"]) and alert["resolved_by"]:
    st.text(
        f"解除：{alert['resolved_by']}（{local_time(pd.Series([alert['resolved_at']]), ctx.tz).iloc[0]}）"
    )

doc_ids = tuple(int(i) for i in (evidence.get("document_ids") or [])) if isinstance(evidence, dict) else ()
with st.expander(f"证据文档（{len(doc_ids)} 条）", expanded=bool(doc_ids)):
    if doc_ids:
        st.dataframe(
            document_table(data.documents_by_ids(ctx.url, doc_ids), ctx.tz), hide_index=True, width="stretch"
        )
    other = {k: v for k, v in evidence.items() if k != "document_ids"} if isinstance(evidence, dict) else {}
    if other:
        st.json(other)

history = data.alert_events(ctx.url, alert_id)
st.dataframe(
    pd.DataFrame(
        {
            "时间": local_time(history["at"], ctx.tz),
            "事件": history["event"].map(lambda e: labels.ALERT_EVENTS.get(e, e)),
            "操作人": history["actor"].astype(str),
            "备注": history["note"].fillna("").astype(str),
        }
    ),
    hide_index=True,
    width="stretch",
)


def act(kind: str, alert_id: int, rule: str, key: str) -> None:
    """Run one action on the alert the user saw, through the alerts lifecycle (audit-logged there),
    if the user, re-read from the database, may still act on alerts."""
    from storage.alert_actions import (
        AlertNotFoundError,
        AlertStateError,
        acknowledge_alert,
        create_silence,
        resolve_alert,
    )

    actor = auth.authorize(data.engine(), "alert_actions")
    if actor is None:
        st.session_state[FLASH] = ("error", auth.DENIED)
        return
    note = st.session_state.get("alert_note") or None
    user = actor.username
    try:
        if kind == "ack":
            acknowledge_alert(data.engine(), alert_id, user, note, now=ctx.now)
            message = f"预警 #{alert_id} 已确认。"
        elif kind == "resolve":
            resolve_alert(data.engine(), alert_id, user, note, now=ctx.now)
            message = f"预警 #{alert_id} 已解除。"
        else:
            hours = SILENCE_CHOICES[st.session_state["silence_for"]]
            until = ctx.now + timedelta(hours=hours)
            create_silence(data.engine(), rule, until, user, key=key, note=note, now=ctx.now)
            message = f"规则 {rule}（{key}）已静默 {st.session_state['silence_for']}。"
    except (AlertNotFoundError, AlertStateError, ValueError) as exc:
        st.session_state[FLASH] = ("error", f"操作未完成：{exc}")
    else:
        st.session_state[FLASH] = ("ok", message)
    st.session_state["alert_note"] = ""
    data.clear_caches()


st.subheader("处置")
if ctx.can("alert_actions"):
    st.text_input("备注（可选）", key="alert_note", max_chars=500)
    b1, b2, b3, b4 = st.columns([1, 1, 1, 2])
    target = (alert_id, str(alert["rule"]), str(alert["key"]))
    b1.button(
        "确认",
        key="btn_ack",
        on_click=act,
        args=("ack", *target),
        disabled=alert["status"] != "open",
        type="primary",
    )
    b2.button(
        "解除",
        key="btn_resolve",
        on_click=act,
        args=("resolve", *target),
        disabled=alert["status"] == "resolved",
    )
    b4.selectbox("静默时长", list(SILENCE_CHOICES), key="silence_for", label_visibility="collapsed")
    b3.button("静默", key="btn_silence", on_click=act, args=("silence", *target))
else:
    st.info("确认、解除、静默需要值班员或管理员角色。")

silenced = data.silences(ctx.url, data.minute_of(ctx.now))
if not silenced.empty:
    st.subheader("生效中的静默")
    st.dataframe(
        pd.DataFrame(
            {
                "规则": silenced["rule"].astype(str),
                "对象": silenced["key"].fillna("全部").astype(str),
                "截止": local_time(silenced["until"], ctx.tz),
                "设置人": silenced["created_by"].astype(str),
                "备注": silenced["note"].fillna("").astype(str),
            }
        ),
        hide_index=True,
        width="stretch",
    )

st.subheader("本期全部预警")
st.dataframe(alert_table(recent, ctx.tz), hide_index=True, width="stretch")
