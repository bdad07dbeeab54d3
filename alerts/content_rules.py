"""Rules over content, pure: keyword watchlists on documents and emerging topics.

Like ``alerts/rules.py`` these take loaded data and return :class:`~alerts.rules.Candidate`
objects with plain-Chinese titles and summaries; the engine loads the data.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pandas as pd

from alerts.rules import EMPTY_VALUES, Candidate, DocScope, alert_key, format_local, subject_of
from analytics.emerging import EmergingParams, find_emerging
from kernel.settings import AlertRuleSettings

log = logging.getLogger(__name__)

WATCHLIST_KEY = "watchlist"


class TextMatcher(Protocol):
    """What ``analytics.watchlist.compile_expression`` returns."""

    def matches(self, text: str) -> bool: ...


@dataclass(frozen=True)
class WindowDocument:
    """A document published in a rule's window (keyword rules match on title + content)."""

    id: int
    title: str
    content: str
    published_at: datetime
    channel: str
    dup_of: int | None
    weight: int  # copies + engagement, to pick representative examples

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.content}" if self.title else self.content


def evaluate_keyword(
    rule: AlertRuleSettings,
    documents: Sequence[WindowDocument],
    now: datetime,
    matcher: TextMatcher,
    *,
    tz: str = "Asia/Shanghai",
) -> list[Candidate]:
    """Keyword watchlist: fire when at least ``min_count`` events in the window match the expression.

    An event is a first copy and its reposts together (reposts do not count twice). The three
    most copied / engaged matching first copies illustrate the alert.
    """
    matched = [d for d in documents if matcher.matches(d.text)]
    events = {d.dup_of or d.id for d in matched}
    if not matched or len(events) < max(rule.min_count, 1):
        return []
    since = min(d.published_at for d in matched)
    firsts = sorted(
        (d for d in matched if d.dup_of is None), key=lambda d: (-d.weight, -d.published_at.timestamp())
    )
    examples = tuple(d.id for d in (firsts or matched)[:3])
    terms: Counter[str] = Counter()
    explain = getattr(matcher, "match", None)  # analytics.watchlist also tells which terms were found
    if callable(explain):
        for d in matched:
            terms.update(explain(d.text).terms)
    found = "、".join(f"{term}（{n}）" for term, n in terms.most_common(5))
    expr = rule.expression or ""
    summary = (
        f"监测表达式 {expr} 在最近{rule.window_hours}小时命中 {len(events)} 起（共 {len(matched)} 条内容，"
        f"含转载）{f'，命中词：{found}' if found else ''}，触发阈值为 {max(rule.min_count, 1)} 起；"
        f"最早一条发布于 {format_local(since, tz)}。"
    )
    return [
        Candidate(
            rule=rule.name,
            key=WATCHLIST_KEY,
            title=f"监测关键词命中 {len(events)} 起：{'、'.join(t for t, _ in terms.most_common(3)) or expr}",
            summary=summary,
            value=float(len(events)),
            baseline=float(max(rule.min_count, 1)),
            since=since,
            severity=rule.severity,
            evidence={
                "kind": rule.kind,
                "expression": expr,
                "events": len(events),
                "documents_matched": len(matched),
                "terms": dict(terms),
                "window_hours": rule.window_hours,
            },
            scope=DocScope(document_ids=examples),
        )
    ]


def evaluate_emerging(
    rule: AlertRuleSettings,
    frame: pd.DataFrame,
    now: datetime,
    *,
    labels: Mapping[str, str] | None = None,
    tz: str = "Asia/Shanghai",
) -> list[Candidate]:
    """Emerging topics (or other dimension values): new ones, and ones far above their own history.

    The recent window is the last ``window_hours`` hour buckets, the current one included; the
    history is the ``lookback_days`` before it (``analytics.emerging.find_emerging``).
    """
    params = EmergingParams(
        recent_hours=rule.window_hours,
        history_days=rule.lookback_days,
        min_count=float(max(rule.min_count, 1)),
        z_threshold=rule.threshold if rule.threshold is not None else 4.0,
    )
    frame = frame[~frame["value"].astype(str).isin(EMPTY_VALUES)] if not frame.empty else frame
    end = pd.Timestamp(now).tz_convert("UTC").floor("h") + pd.Timedelta(hours=1)
    found = find_emerging(frame, end, params, key="value")
    window_start = (end - pd.Timedelta(hours=rule.window_hours)).to_pydatetime()
    w, days = rule.window_hours, rule.lookback_days
    out = []
    for row in found.itertuples(index=False):
        value = str(row.key)
        subject = subject_of(rule.dimension, value, labels)
        first_seen = pd.Timestamp(row.first_seen).tz_convert("UTC").to_pydatetime()
        if row.reason == "new":
            since = first_seen
            title = f"出现新{subject}"
            summary = (
                f"新出现的{subject}：最近{w}小时 {row.recent:.0f} 条，此前 {days} 天没有出现过，"
                f"首次出现于 {format_local(first_seen, tz)}。"
            )
        else:
            since = window_start
            title = f"{subject}热度快速上升"
            summary = (
                f"{subject}最近{w}小时 {row.recent:.0f} 条，按近 {days} 天的水平应约 {row.expected:.1f} 条，"
                f"是常态的 {row.ratio:.1f} 倍（z 值 {row.z:.1f}），自 {format_local(since, tz)} 起。"
            )
        out.append(
            Candidate(
                rule=rule.name,
                key=alert_key(rule.dimension, value),
                title=title,
                summary=summary,
                value=float(row.recent),
                baseline=float(row.expected),
                since=since,
                severity=rule.severity,
                evidence={
                    "kind": rule.kind,
                    "reason": row.reason,
                    "dimension": rule.dimension,
                    "dimension_value": value,
                    "subject": subject,
                    "ratio": round(float(row.ratio), 3),
                    "z": round(float(row.z), 3),
                    "window_hours": w,
                },
                scope=DocScope(
                    rule.dimension, None if rule.dimension == "total" else value, None, window_start
                ),
            )
        )
    return out
