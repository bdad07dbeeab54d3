"""Pure builders of the report's volume, sentiment, emotion and alert tables (frames in, tables out).

Input frames come from :mod:`reports.data`: one row per document (corrections applied) and one
row per alert. Volumes count every stored document, copies included; "events" count first copies
only. Shares are over tagged documents. Every row's evidence lists the documents it counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from kernel import labels
from reports.model import Column, Evidence, ReportTable

# The report's column orders, labelled from the one vocabulary the dashboard and alerts use too.
SENTIMENT_LABELS = {k: labels.SENTIMENTS[k] for k in ("positive", "neutral", "negative")}
EMOTION_LABELS = {k: labels.EMOTIONS[k] for k in ("happy", "angry", "sad", "fear", "surprise", "neutral")}
CHANNEL_LABELS = labels.CHANNELS
UNKNOWN_REGION = "未识别地域"
UNKNOWN_CATEGORY = "未分类"
OTHER_REGIONS = "其他地区"
TOP_REGIONS = 15


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def ordered_channels(*frames: pd.DataFrame) -> list[str]:
    """Channels present in any frame: the known ones in a fixed order, then others by name."""
    present = set().union(*(set(f["channel"].dropna()) for f in frames))
    return [c for c in CHANNEL_LABELS if c in present] + sorted(present - set(CHANNEL_LABELS))


def ids_of(frame: pd.DataFrame | None) -> tuple[int, ...]:
    return () if frame is None else tuple(sorted(int(i) for i in frame["id"]))


def evidence(filter_: str, frame: pd.DataFrame, previous: pd.DataFrame | None = None) -> Evidence:
    """Evidence naming the documents of ``frame`` (and of the previous week) selected by ``filter_``."""
    return Evidence(filter_, ids_of(frame), previous_ids=ids_of(previous))


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def change(this: float, last: float) -> tuple[float, float | None]:
    """(difference, relative change or None when the previous value is 0)."""
    return this - last, ((this - last) / last if last else None)


def negative_share(frame: pd.DataFrame) -> float | None:
    tagged = frame["sentiment"].notna().sum()
    return float((frame["sentiment"] == "negative").sum() / tagged) if tagged else None


def hours_to_ack(alerts: pd.DataFrame) -> pd.Series:
    """Hours from first firing to acknowledgement, NaN when not acknowledged."""
    if alerts.empty:
        return pd.Series(dtype=float)
    acked = pd.to_datetime(alerts["acked_at"], utc=True)
    first = pd.to_datetime(alerts["first_seen"], utc=True)
    return (acked - first).dt.total_seconds() / 3600.0


def kpi_table(
    cur: pd.DataFrame, prev: pd.DataFrame, alerts: pd.DataFrame, prev_alerts: pd.DataFrame
) -> ReportTable:
    """Headline figures for the week against the previous week."""
    table = ReportTable(
        "kpi",
        "核心指标（本周与上周对比）",
        [
            Column("metric", "指标"),
            Column("unit", "单位"),
            Column("this_week", "本周", "num"),
            Column("last_week", "上周", "num"),
            Column("change", "变化", "num"),
            Column("change_rate", "变化率", "pct"),
        ],
        note="负面占比以已标注文档为分母，变化以百分点计；确认用时为中位数。",
    )

    def add(
        label: str, unit: str, this: float | None, last: float | None, ev: Evidence, rate: bool = True
    ) -> None:
        diff, rel = (
            change(this or 0.0, last or 0.0) if this is not None and last is not None else (None, None)
        )
        table.add([label, unit, this, last, diff, rel if rate else None], ev)

    def docs(label: str, cond: str, mask: Any) -> None:
        sel, last = cur[mask(cur)], prev[mask(prev)]
        add(label, "条", len(sel), len(last), evidence(cond, sel, last))

    docs("文档总量", "TRUE（全部文档）", lambda f: f["id"].notna())
    for ch in ordered_channels(cur, prev):
        docs(f"声量·{channel_label(ch)}", f"channel = {sql_literal(ch)}", lambda f, ch=ch: f["channel"] == ch)
    docs("去重后事件数", "dup_of IS NULL", lambda f: f["dup_of"].isna())
    docs("负面文档数", "sentiment = 'negative'", lambda f: f["sentiment"] == "negative")
    share, share_prev = negative_share(cur), negative_share(prev)
    pct = lambda v: None if v is None else round(v * 100, 2)  # noqa: E731
    neg, neg_prev = cur[cur["sentiment"] == "negative"], prev[prev["sentiment"] == "negative"]
    add(
        "负面占比",
        "%",
        pct(share),
        pct(share_prev),
        evidence("sentiment = 'negative'；分母：sentiment IS NOT NULL", neg, neg_prev),
        rate=False,
    )
    add("预警数", "条", len(alerts), len(prev_alerts), alert_evidence("alerts.first_seen 在本周内", alerts))
    crit = alerts[alerts["severity"] == "critical"] if not alerts.empty else alerts
    n_crit_prev = int((prev_alerts["severity"] == "critical").sum()) if not prev_alerts.empty else 0
    add("其中严重预警", "条", len(crit), n_crit_prev, alert_evidence("severity = 'critical'", crit))
    ack, ack_prev = hours_to_ack(alerts).dropna(), hours_to_ack(prev_alerts).dropna()
    add(
        "确认用时（中位数）",
        "小时",
        round(float(ack.median()), 2) if len(ack) else None,
        round(float(ack_prev.median()), 2) if len(ack_prev) else None,
        alert_evidence(
            "acked_at IS NOT NULL", alerts[hours_to_ack(alerts).notna()] if len(ack) else alerts.iloc[0:0]
        ),
    )
    return table


def alert_evidence(filter_: str, alerts: pd.DataFrame) -> Evidence:
    ids = tuple(sorted(int(i) for i in alerts["id"])) if not alerts.empty else ()
    return Evidence(filter_, alert_ids=ids)


def daily_volume_table(cur: pd.DataFrame, days: Iterable[datetime], tz: str) -> ReportTable:
    """Documents per local day and channel, with the day's total."""
    channels = ordered_channels(cur)
    table = ReportTable(
        "daily",
        "每日声量（按渠道）",
        [Column("day", "日期")]
        + [Column(c, channel_label(c), "int") for c in channels]
        + [Column("total", "合计", "int")],
    )
    local_day = cur["published_at"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d")
    for day in days:
        label = f"{day:%Y-%m-%d}"
        sel = cur[local_day == label]
        counts = [int((sel["channel"] == c).sum()) for c in channels]
        cond = f"published_at ∈ [{label} 00:00, 次日 00:00)（{tz}）"
        table.add([label, *counts, len(sel)], evidence(cond, sel))
    return table


def _dimension(frame: pd.DataFrame, dim: str, keep: list[str] | None = None) -> pd.Series:
    """The grouping value of every document for ``dim`` (channel, category or province), labelled."""
    if dim == "channel":
        return frame["channel"].map(channel_label)
    if dim == "category":
        return frame["category"].fillna(UNKNOWN_CATEGORY)
    values = frame["province"].fillna(UNKNOWN_REGION)
    if keep is not None:
        values = values.where(values.isin(keep) | (values == UNKNOWN_REGION), OTHER_REGIONS)
    return values


def group_condition(dim: str, name: str, keep: list[str] | None, cur: pd.DataFrame) -> str:
    """The base-query condition selecting the documents of one group row."""
    if dim == "channel":
        raw = [c for c in ordered_channels(cur) if channel_label(c) == name]
        return f"channel = {sql_literal(raw[0] if raw else name)}"
    column = "category" if dim == "category" else "province"
    if name in (UNKNOWN_CATEGORY, UNKNOWN_REGION):
        return f"{column} IS NULL"
    if name == OTHER_REGIONS:
        return f"province NOT IN ({', '.join(sql_literal(k) for k in keep or [])})"
    return f"{column} = {sql_literal(name)}"


def _groups(cur: pd.DataFrame, dim: str) -> tuple[list[str], list[str] | None]:
    """Row labels in report order: channels fixed, others by volume (then name); regions capped."""
    if dim == "channel":
        return [channel_label(c) for c in ordered_channels(cur)], None
    raw = cur["category" if dim == "category" else "province"]
    counts = raw.dropna().value_counts()
    names = sorted(counts.index, key=lambda k: (-int(counts[k]), str(k)))
    keep = None
    if dim == "province":
        keep = names[:TOP_REGIONS]
        names = keep + ([OTHER_REGIONS] if len(names) > TOP_REGIONS else [])
        return names + ([UNKNOWN_REGION] if raw.isna().any() else []), keep
    return names + ([UNKNOWN_CATEGORY] if raw.isna().any() else []), keep


DIM_TITLES = {"channel": "渠道", "category": "诉求分类", "province": "地域"}


def sentiment_table(cur: pd.DataFrame, prev: pd.DataFrame, dim: str) -> ReportTable:
    """Sentiment counts and negative share per channel / category / region, with the change."""
    label = DIM_TITLES[dim]
    table = ReportTable(
        f"sentiment_{dim}",
        f"情感分布（按{label}）",
        [Column("group", label), Column("tagged", "已标注", "int")]
        + [Column(k, v, "int") for k, v in SENTIMENT_LABELS.items()]
        + [Column("negative_share", "负面占比", "pct"), Column("delta_pp", "较上周（百分点）", "num")],
    )
    names, keep = _groups(cur, dim)
    groups, prev_groups = _dimension(cur, dim, keep), _dimension(prev, dim, keep)
    for name in names:
        sel = cur[(groups == name) & cur["sentiment"].notna()]
        last = prev[(prev_groups == name) & prev["sentiment"].notna()]
        share, prev_share = negative_share(sel), negative_share(last)
        delta = round((share - prev_share) * 100, 2) if share is not None and prev_share is not None else None
        counts = [int((sel["sentiment"] == k).sum()) for k in SENTIMENT_LABELS]
        cond = f"{group_condition(dim, name, keep, cur)} AND sentiment IS NOT NULL"
        table.add([name, len(sel), *counts, share, delta], evidence(cond, sel, last))
    return table


def emotion_table(cur: pd.DataFrame, dim: str) -> ReportTable:
    """Emotion counts per channel / category / region and the leading non-calm emotion."""
    label = DIM_TITLES[dim]
    table = ReportTable(
        f"emotion_{dim}",
        f"情绪分布（按{label}）",
        [Column("group", label), Column("tagged", "已标注", "int")]
        + [Column(k, v, "int") for k, v in EMOTION_LABELS.items()]
        + [Column("leading", "主要情绪")],
    )
    names, keep = _groups(cur, dim)
    groups = _dimension(cur, dim, keep)
    for name in names:
        sel = cur[(groups == name) & cur["emotion"].notna()]
        counts = {k: int((sel["emotion"] == k).sum()) for k in EMOTION_LABELS}
        moods = {k: v for k, v in counts.items() if k != "neutral" and v > 0}
        leading = EMOTION_LABELS[max(sorted(moods), key=lambda k: moods[k])] if moods else "—"
        cond = f"{group_condition(dim, name, keep, cur)} AND emotion IS NOT NULL"
        table.add([name, len(sel), *counts.values(), leading], evidence(cond, sel))
    return table


def local_time(value: object, tz: str) -> datetime | None:
    """A stored UTC timestamp as an aware datetime in ``tz`` (None when missing)."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert(tz).to_pydatetime()


def alerts_table(alerts: pd.DataFrame, doc_ids: dict[int, tuple[int, ...]], tz: str) -> ReportTable:
    """The week's alerts and how they were handled: who acknowledged, how fast, how closed."""
    table = ReportTable(
        "alerts",
        "本周预警及处置",
        [
            Column("id", "编号", "int"),
            Column("title", "预警"),
            Column("severity", "级别"),
            Column("first_seen", "首次触发", "datetime"),
            Column("status", "状态"),
            Column("acked_by", "确认人"),
            Column("hours_to_ack", "确认用时", "hours"),
            Column("resolved_by", "处置人"),
            Column("note", "处置说明"),
        ],
        note="确认用时 = 确认时间 − 首次触发时间；未确认者留空。",
    )
    if alerts.empty:
        return table
    hours = hours_to_ack(alerts)
    for (_, a), h in zip(alerts.iterrows(), hours, strict=True):
        table.add(
            [
                int(a["id"]),
                str(a["title"]),
                labels.SEVERITY.get(a["severity"], a["severity"]),
                local_time(a["first_seen"], tz),
                labels.ALERT_STATUS.get(a["status"], a["status"]),
                a["acked_by"] if isinstance(a["acked_by"], str) else None,
                None if pd.isna(h) else round(float(h), 2),
                a["resolved_by"] if isinstance(a["resolved_by"], str) else None,
                a["note"] if isinstance(a["note"], str) else None,
            ],
            Evidence(
                f"alerts.id = {int(a['id'])}（{a['rule']}: {a['key']}）",
                doc_ids.get(int(a["id"]), ()),
                (int(a["id"]),),
            ),
        )
    return table
