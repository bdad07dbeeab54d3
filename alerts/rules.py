"""Rule evaluation, pure: rollup frames, documents or source activity in, candidate firings out.

Each ``evaluate_*`` function takes one rule's settings and data already loaded by
``alerts/engine.py`` and returns :class:`Candidate` objects: one per dimension value (the alert
*key*, e.g. ``category=环境保护``) whose condition holds *now*, each with a plain-Chinese title and
summary that say what happened, how far above normal (numbers) and since when. The lifecycle
(``alerts/lifecycle.py``) turns candidates into stored alerts.

Volume and negative-share rules use ``analytics.detect`` on hourly series of ``n_unique`` (first
copies only, so reposts count as one event): volume rules the default scan detector
(``analytics/scan.py``: exact negative-binomial tail of the last one and two windows, longer ones
on sparse series, against the seasonal and one-step expectations, threshold from the rule's
``alarms_per_week``, or its ``threshold`` as a z-score), negative-share rules the binomial share
test. A volume alert says how unusual its count is from the detector's own tail probability
(``analytics/chance.py``: "本小时 9 条，按近 14 天同时段预计 3 条，偶然出现的概率约千分之一").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from scipy.stats import norm

from analytics.chance import describe_count
from analytics.detect import SpikeParams, detect_share_spike, evaluate_latest
from kernel.labels import CHANNELS
from kernel.settings import AlertRuleSettings

log = logging.getLogger(__name__)

DIMENSION_COLUMNS: dict[str, str | None] = {
    "total": None,
    "channel": "channel",
    "category": "category",
    "region": "province",
    "topic": "topic_id",
}
DIMENSION_LABELS = {
    "total": "全部渠道",
    "channel": "渠道",
    "category": "诉求类别",
    "region": "地区",
    "topic": "话题",
    "subject": "专题",  # subject rules (alerts/subject_rules.py); the value is the subject's name
}
EMPTY_VALUES = {"", "-1", "None"}


@dataclass(frozen=True)
class DocScope:
    """Which documents illustrate a candidate: a dimension value since a time, or explicit ids."""

    dimension: str = "total"
    value: str | None = None
    sentiment: str | None = None
    start: datetime | None = None
    document_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A rule's condition holding now for one key.

    Attributes:
        rule: rule name.
        key: dimension value the alert is about, e.g. ``category=环境保护`` (one open alert per rule x key).
        title: one-line plain-Chinese headline.
        summary: plain-Chinese explanation with the numbers.
        value: observed value (count, share, minutes silent).
        baseline: what is normal (None when the rule has no baseline).
        since: when the condition started.
        severity: info | warning | critical.
        evidence: numbers and labels stored with the alert (JSON-safe).
        scope: which documents illustrate it (None: no documents, e.g. a silent source).
    """

    rule: str
    key: str
    title: str
    summary: str
    value: float
    baseline: float | None
    since: datetime
    severity: str
    evidence: dict[str, Any] = field(default_factory=dict)
    scope: DocScope | None = None


def format_local(at: datetime, tz: str) -> str:
    """``11月25日 14:00`` in the display time zone."""
    local = at.astimezone(ZoneInfo(tz))
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def subject_of(dimension: str, value: str, labels: Mapping[str, str] | None = None) -> str:
    """Plain-Chinese name of a dimension value, e.g. ``诉求类别「环境保护」``."""
    if dimension == "total":
        return DIMENSION_LABELS["total"]
    shown = (labels or {}).get(value) or (CHANNELS.get(value, value) if dimension == "channel" else value)
    if dimension == "topic" and not (labels or {}).get(value):
        shown = f"#{value}"
    return f"{DIMENSION_LABELS[dimension]}「{shown}」"


def spike_params(rule: AlertRuleSettings) -> SpikeParams:
    """Detector settings for a volume or share rule (hourly buckets)."""
    return SpikeParams(
        window=rule.window_hours,
        lookback_days=rule.lookback_days,
        z_threshold=rule.threshold,
        alarms_per_week=rule.alarms_per_week,
        min_count=float(rule.min_count),
        freq="h",
        detector=rule.detector,
    )


def hourly_grid(
    now: datetime, lookback_days: int, window_hours: int, data_start: datetime | None
) -> pd.DatetimeIndex:
    """Hour buckets from the start of the lookback (not before the first data) to the current hour."""
    end = pd.Timestamp(now).tz_convert("UTC").floor("h")
    start = end - pd.Timedelta(days=lookback_days + 1, hours=window_hours)
    if data_start is not None:
        start = max(start, pd.Timestamp(data_start).tz_convert("UTC").floor("h"))
    return pd.date_range(min(start, end), end, freq="h")


def pivot_counts(frame: pd.DataFrame, grid: pd.DatetimeIndex, sentiment: str | None = None) -> pd.DataFrame:
    """Hourly counts per dimension value on ``grid`` (hours without rows are 0).

    ``frame`` has columns bucket (UTC), value (dimension value as text), sentiment, n.
    """
    if sentiment is not None:
        frame = frame[frame["sentiment"] == sentiment]
    if frame.empty:
        return pd.DataFrame(index=grid, dtype="float64")
    buckets = pd.to_datetime(frame["bucket"], utc=True)
    table = frame.assign(bucket=buckets).pivot_table(
        index="bucket", columns="value", values="n", aggfunc="sum"
    )
    return table.reindex(grid).fillna(0.0).astype("float64")


def alert_key(dimension: str, value: str) -> str:
    """The alert key of a dimension value, e.g. ``category=环境保护`` (``total`` for the total)."""
    return "total" if dimension == "total" else f"{dimension}={value}"


def _ts(value: pd.Timestamp) -> datetime:
    return value.tz_convert("UTC").to_pydatetime()


def evaluate_volume(
    rule: AlertRuleSettings,
    frame: pd.DataFrame,
    now: datetime,
    *,
    data_start: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    tz: str = "Asia/Shanghai",
) -> list[Candidate]:
    """Volume spikes: per dimension value, the last window against its same-hour baseline."""
    params = spike_params(rule)
    grid = hourly_grid(now, rule.lookback_days, rule.window_hours, data_start)
    table = pivot_counts(frame, grid)
    out = []
    for value in table.columns:
        if str(value) in EMPTY_VALUES and rule.dimension != "total":
            continue
        series = table[value]
        if series.iloc[-max(params.scan_windows) :].sum() < rule.min_count:
            continue  # quiet windows never alarm; skips most values cheaply
        spike = evaluate_latest(series, params)
        if spike is None:
            continue
        subject = subject_of(rule.dimension, str(value), labels)
        since = _ts(spike.start)
        hours = spike.window or rule.window_hours  # spike.value sums this many (hourly) buckets
        expected = spike.baseline if spike.expected is None else spike.expected
        p = float(norm.sf(spike.z)) if spike.p_value is None else spike.p_value
        summary = (
            f"{subject}{describe_count(spike.value, expected, hours, rule.lookback_days, p)}；"
            f"是常态的 {spike.ratio:.1f} 倍（转载去重后计数，z 值 {spike.z:.1f}），"
            f"自 {format_local(since, tz)} 起。"
        )
        out.append(
            Candidate(
                rule=rule.name,
                key=alert_key(rule.dimension, str(value)),
                title=f"{subject}发文量异常升高",
                summary=summary,
                value=float(spike.value),
                baseline=float(spike.baseline),
                since=since,
                severity=rule.severity,
                evidence={
                    "kind": rule.kind,
                    "dimension": rule.dimension,
                    "dimension_value": str(value),
                    "subject": subject,
                    "ratio": round(float(spike.ratio), 3),
                    "z": round(float(spike.z), 3),
                    "peak": float(spike.peak),
                    "window_hours": hours,
                    "value": float(spike.value),
                    "expected": round(float(expected), 3),
                    "p_value": float(f"{p:.3g}"),
                    "lookback_days": rule.lookback_days,
                },
                scope=DocScope(
                    rule.dimension, None if rule.dimension == "total" else str(value), None, since
                ),
            )
        )
    return out


def evaluate_negative_share(
    rule: AlertRuleSettings,
    frame: pd.DataFrame,
    now: datetime,
    *,
    data_start: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    tz: str = "Asia/Shanghai",
) -> list[Candidate]:
    """Negative-share spikes: per dimension value, negative / all items against the pooled lookback share."""
    params = spike_params(rule)
    grid = hourly_grid(now, rule.lookback_days, rule.window_hours, data_start)
    totals = pivot_counts(frame, grid)
    negatives = pivot_counts(frame, grid, sentiment="negative")
    w = rule.window_hours
    out = []
    for value in totals.columns:
        if str(value) in EMPTY_VALUES and rule.dimension != "total":
            continue
        total = totals[value]
        n = float(total.iloc[-w:].sum())
        if n < rule.min_count:
            continue
        neg = negatives[value] if value in negatives.columns else pd.Series(0.0, index=grid)
        spikes = detect_share_spike(neg, total, params)
        if not spikes or spikes[-1].end != grid[-1]:
            continue
        spike = spikes[-1]
        k = float(neg.iloc[-w:].sum())
        subject = subject_of(rule.dimension, str(value), labels)
        since = _ts(spike.start)
        p, p0 = k / n, float(spike.baseline)
        summary = (
            f"{subject}最近{w}小时负面占比 {p:.0%}（{k:.0f}/{n:.0f} 条），近 {rule.lookback_days} 天常态约 "
            f"{p0:.0%}，高出 {(p - p0) * 100:.0f} 个百分点（z 值 {spike.z:.1f}），自 {format_local(since, tz)} 起。"
        )
        out.append(
            Candidate(
                rule=rule.name,
                key=alert_key(rule.dimension, str(value)),
                title=f"{subject}负面情绪占比异常升高",
                summary=summary,
                value=p,
                baseline=p0,
                since=since,
                severity=rule.severity,
                evidence={
                    "kind": rule.kind,
                    "dimension": rule.dimension,
                    "dimension_value": str(value),
                    "subject": subject,
                    "negative": k,
                    "total": n,
                    "z": round(float(spike.z), 3),
                    "window_hours": w,
                },
                scope=DocScope(
                    rule.dimension, None if rule.dimension == "total" else str(value), "negative", since
                ),
            )
        )
    return out


@dataclass(frozen=True)
class SourceActivity:
    """What the store knows about one configured source."""

    name: str
    enabled: bool
    last_delivery: datetime | None  # end of the last successful run that stored new items
    last_run_at: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None


def evaluate_source_silence(
    rule: AlertRuleSettings, sources: Sequence[SourceActivity], now: datetime, *, tz: str = "Asia/Shanghai"
) -> list[Candidate]:
    """Sources that delivered before but have stored nothing new for ``silence_minutes``.

    Disabled sources are ignored, and so are sources that never delivered anything: those have
    not *stopped* delivering, and ``sensing status`` shows them.
    """
    limit = timedelta(minutes=rule.silence_minutes)
    out = []
    for src in sources:
        if not src.enabled or src.last_delivery is None or now - src.last_delivery < limit:
            continue
        minutes = (now - src.last_delivery).total_seconds() / 60
        last_run = "从未运行"
        if src.last_run_at is not None:
            state = {"ok": "成功但无新数据", "partial": "部分成功", "failed": "失败", "running": "运行中"}
            last_run = (
                f"{format_local(src.last_run_at, tz)}，{state.get(src.last_status or '', src.last_status)}"
            )
            if src.last_error:
                last_run += f"（{src.last_error[:120]}）"
        summary = (
            f"数据源「{src.name}」已 {minutes:.0f} 分钟没有新数据（阈值 {rule.silence_minutes} 分钟），"
            f"最后一次收到新数据在 {format_local(src.last_delivery, tz)}；最近一次采集：{last_run}。"
        )
        out.append(
            Candidate(
                rule=rule.name,
                key=f"source={src.name}",
                title=f"数据源「{src.name}」停止更新",
                summary=summary,
                value=round(minutes, 1),
                baseline=float(rule.silence_minutes),
                since=src.last_delivery,
                severity=rule.severity,
                evidence={"kind": rule.kind, "source": src.name, "last_error": src.last_error},
            )
        )
    return out


def evaluate_model_drift(
    rule: AlertRuleSettings, drift: pd.DataFrame, shifts: pd.DataFrame, now: datetime
) -> list[Candidate]:
    """Sources whose newest week's sentiment mix moved far from the week before.

    ``drift`` and ``shifts`` come from :func:`storage.corrections.drift_by_source_week` and
    :func:`storage.corrections.label_shift`; the shift is the total-variation distance between
    the two weeks' label shares (0: same mix, 1: no label in common). ``threshold`` (default 0.3)
    is the distance that fires; weeks with fewer than ``min_count`` documents are ignored.
    """
    limit = rule.threshold if rule.threshold is not None else 0.3
    out: list[Candidate] = []
    if shifts.empty:
        return out
    for source, part in shifts.sort_values("week").groupby("source"):
        newest = part.iloc[-1]
        week_rows = drift[(drift["source"] == source) & (drift["week"] == newest["week"])]
        n = int(week_rows["n"].sum())
        if n < rule.min_count or float(newest["shift"]) < limit:
            continue
        low = float(week_rows["low_confidence_share"].iloc[0]) if not week_rows.empty else 0.0
        summary = (
            f"数据源「{source}」{newest['week']} 周的情感分布与上一周相比变化 {float(newest['shift']):.2f}"
            f"（阈值 {limit:.2f}，本周 {n} 条，低置信度占比 {low:.0%}）。请检查数据源内容是否变化，"
            "或到「复核队列」抽查模型标签。"
        )
        out.append(
            Candidate(
                rule=rule.name,
                key=f"source={source}",
                title=f"数据源「{source}」模型标签分布漂移",
                summary=summary,
                value=round(float(newest["shift"]), 3),
                baseline=limit,
                since=now,
                severity=rule.severity,
                evidence={"kind": rule.kind, "source": str(source), "week": str(newest["week"]), "n": n},
            )
        )
    return out
