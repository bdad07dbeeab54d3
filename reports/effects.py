"""The 处置与成效 section: events marked in the week and the before/after effect of each (pure).

Events (政策出台 / 现场处置 / 官方回应) are what analysts or officials marked on a topic or on a
category (× region) with ``sensing events add`` or the dashboard. The effect compares the
``hours`` after an event with the ``hours`` before it (:func:`analytics.effect.estimate_effect`
over the issue's hourly rollups): negative share with a 95% interval, and volume. When the data
do not yet reach ``hours`` past the event, both windows shrink to what was observed (so volumes
stay comparable) and the row says so; the next report with the full window supersedes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reports.followup_data import EventEffect
from reports.model import Column, Evidence, ReportTable
from reports.tables import local_time, sql_literal


def target_label(event: Mapping[str, Any], topics: Mapping[int, str]) -> str:
    """What the event is about: ``议题「…」`` or ``诉求分类「…」× 地域``."""
    if event.get("topic_id") is not None:
        tid = int(event["topic_id"])
        return f"议题「{topics.get(tid) or f'话题#{tid}'}」"
    where = f" × {event['province']}" if event.get("province") else ""
    return f"诉求分类「{event['category']}」{where}"


def issue_condition(event: Mapping[str, Any]) -> str:
    """The documents condition of an event's issue (first copies, as the rollups count them)."""
    if event.get("topic_id") is not None:
        cond = f"topic_id = {int(event['topic_id'])}"
    else:
        cond = f"category = {sql_literal(str(event['category']))}"
        if event.get("province"):
            cond += f" AND province = {sql_literal(str(event['province']))}"
    return f"{cond} AND dup_of IS NULL AND pipeline_version IS NOT NULL"


def events_table(effects: Sequence[EventEffect], topics: Mapping[int, str], tz: str) -> ReportTable:
    """The events marked in the week, oldest first."""
    table = ReportTable(
        "events",
        "本周处置事件",
        [
            Column("id", "事件编号", "int"),
            Column("at", "时间", "datetime"),
            Column("kind", "类型"),
            Column("target", "对象"),
            Column("note", "说明"),
            Column("created_by", "标记人"),
        ],
        note="事件由分析员或业务部门在看板或命令行（sensing events add）标记。",
    )
    for eff in effects:
        e = eff.event
        table.add(
            [
                int(e["id"]),
                local_time(e["at"], tz),
                str(e["kind"]),
                target_label(e, topics),
                " ".join(str(e["note"]).split()) if e.get("note") else None,
                e.get("created_by"),
            ],
            Evidence(f"events.id = {int(e['id'])}"),
        )
    return table


def verdict(eff: EventEffect) -> str:
    """下降 / 上升 / 无明显变化 / 数据不足, from the negative share's 95% interval."""
    ci = eff.estimate.neg_share_ci
    if ci is None:
        return "数据不足"
    if ci[1] < 0:
        return "负面占比下降"
    if ci[0] > 0:
        return "负面占比上升"
    return "无明显变化"


def effects_table(effects: Sequence[EventEffect], hours: int, tz: str) -> ReportTable:
    """Before/after figures of each event: volume, negative share, its change and interval."""
    table = ReportTable(
        "effects",
        "处置成效（事件前后对比）",
        [
            Column("id", "事件编号", "int"),
            Column("n_before", "事件前（条）", "int"),
            Column("n_after", "事件后（条）", "int"),
            Column("neg_before", "负面占比·前", "pct"),
            Column("neg_after", "负面占比·后", "pct"),
            Column("change_pp", "变化（百分点）", "float"),
            Column("ci_pp", "95% 区间（百分点）"),
            Column("volume_ratio", "声量比（后/前）", "float"),
            Column("verdict", "结论"),
            Column("window", "前后各（小时）", "int"),
        ],
        note="按首发文档计（转载不重复计）；负面占比变化的区间为 Newcombe（Wilson）95% 区间，区间跨 0 记为无明显变化。"
        f"对比窗口为事件前后各 {hours} 小时；事件后数据尚不足 {hours} 小时的，前后窗口都缩短为已观察的小时数。",
    )
    for eff in effects:
        est, e = eff.estimate, eff.event
        ci = est.neg_share_ci
        at = e["at"]
        start, end = at - timedelta(hours=eff.hours), at + timedelta(hours=eff.hours)
        lo, hi = (f"{local_time(x, tz):%Y-%m-%d %H:%M}" for x in (start, end))
        window = f"published_at ∈ [{lo}, {hi})（{tz}）"
        table.add(
            [
                int(e["id"]),
                est.n_before,
                est.n_after,
                est.neg_share_before,
                est.neg_share_after,
                None if est.neg_share_change is None else round(est.neg_share_change * 100, 2),
                None if ci is None else f"{ci[0] * 100:+.1f} ~ {ci[1] * 100:+.1f}",
                None if est.volume_ratio is None else round(est.volume_ratio, 3),
                verdict(eff),
                eff.hours,
            ],
            Evidence(
                f"events.id = {int(e['id'])}；文档表（不限本周）：{issue_condition(e)} AND {window}，"
                f"以事件时间 {local_time(at, tz):%Y-%m-%d %H:%M} 分前后",
                tuple(sorted(eff.before_ids + eff.after_ids)),
            ),
        )
    return table


def narrate_effects(
    say: Any, effects: Sequence[EventEffect], topics: Mapping[int, str], hours: int, tz: str
) -> None:
    """One plain-Chinese sentence per event, from its estimate (the same numbers as the table)."""
    if not effects:
        say(
            "本周未标记处置事件（政策出台、现场处置、官方回应）；可在看板或用 sensing events add 标记，报告将给出事件前后的变化。"
        )
        return
    for eff in effects:
        e = eff.event
        at = e["at"].astimezone(ZoneInfo(tz))
        when = f"{at.month}月{at.day}日 {at:%H:%M}"
        text = f"事件 {int(e['id'])}（{when} {e['kind']}，{target_label(e, topics)}）：{eff.estimate.summary}"
        text += "" if text.endswith("。") else "。"
        if eff.hours < hours:
            text += f"事件后的数据目前只覆盖 {eff.hours} 小时，暂按前后各 {eff.hours} 小时比较，待满 {hours} 小时后复核。"
        say(text)
    say(
        f"方法：比较事件后 {hours} 小时与事件前 {hours} 小时的首发文档；负面占比差给出 95% 区间，区间跨 0 视为无明显变化。"
        "前后对比不能排除同期其他因素（如节假日、天气）的影响。"
    )
