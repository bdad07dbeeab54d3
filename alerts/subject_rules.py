"""Alert rule kinds on subjects (专题): a volume spike on a subject's own hourly series, a spike of
its negative share, and a subject appearing in a channel for the first time. Registered as
``subject_volume``, ``subject_negative_share`` and ``subject_new_channel`` (``minsheng.rules``); a rule's ``subject`` names one subject, or none for
every active one. Alerts use the usual lifecycle and notifications; their key is
``subject=NAME`` (``subject=NAME|channel=C``) and their title names the subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from alerts.rules import (
    Candidate,
    DocScope,
    evaluate_negative_share,
    evaluate_volume,
    format_local,
    subject_of,
)
from kernel.labels import CHANNELS
from kernel.settings import AlertRuleSettings
from storage.subjects import subject_channel_firsts, subject_document_sample, subject_hourly_frame


def _names(rule: AlertRuleSettings) -> list[str] | None:
    return [rule.subject] if rule.subject else None


def _series_rule(ctx: Any, rule: AlertRuleSettings, evaluate: Any) -> list[Candidate]:
    start = ctx.now - timedelta(days=rule.lookback_days + 1, hours=rule.window_hours + 1)
    frame = subject_hourly_frame(ctx.engine, start, ctx.now, _names(rule))
    as_subject = rule.model_copy(update={"dimension": "subject"})
    found = evaluate(as_subject, frame, ctx.now, data_start=ctx.data_start(), tz=ctx.tz)
    out = []
    for c in found:
        name = str(c.evidence["dimension_value"])
        ids = subject_document_sample(ctx.engine, name, c.since, ctx.now)
        out.append(
            replace(c, evidence={**c.evidence, "subject_name": name}, scope=DocScope(document_ids=tuple(ids)))
        )
    return out


def subject_volume_rule(ctx: Any, rule: AlertRuleSettings) -> list[Candidate]:
    """Volume spikes of each subject's first copies, by the volume rules' detector and settings."""
    return _series_rule(ctx, rule, evaluate_volume)


def subject_negative_share_rule(ctx: Any, rule: AlertRuleSettings) -> list[Candidate]:
    """Spikes of each subject's negative share, by the negative-share rules' test and settings."""
    return _series_rule(ctx, rule, evaluate_negative_share)


def evaluate_new_channels(
    rule: AlertRuleSettings, firsts: Sequence[dict[str, Any]], now: datetime, tz: str
) -> list[Candidate]:
    """Channels in which a subject's first document falls in the rule's last ``window_hours``,
    when the subject had appeared elsewhere before (pure)."""
    since = now - timedelta(hours=rule.window_hours)
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for row in firsts:
        by_subject.setdefault(row["subject"], []).append(row)
    out = []
    for name, rows in sorted(by_subject.items()):
        earliest = min(r["first_at"] for r in rows)
        for row in sorted(rows, key=lambda r: r["first_at"]):
            if row["first_at"] < since or row["first_at"] <= earliest:
                continue
            channel = CHANNELS.get(row["channel"], row["channel"])
            where = subject_of("subject", name)
            before = "、".join(
                CHANNELS.get(r["channel"], r["channel"]) for r in rows if r["first_at"] < row["first_at"]
            )
            out.append(
                Candidate(
                    rule=rule.name,
                    key=f"subject={name}|channel={row['channel']}",
                    title=f"{where}首次出现在{channel}",
                    summary=(
                        f"{where}于 {format_local(row['first_at'], tz)} 首次出现在{channel}（此前见于{before}），"
                        f"至今 {row['n']} 条。"
                    ),
                    value=float(row["n"]),
                    baseline=None,
                    since=row["first_at"],
                    severity=rule.severity,
                    evidence={
                        "kind": rule.kind,
                        "dimension": "subject",
                        "dimension_value": name,
                        "subject": where,
                        "subject_name": name,
                        "channel": row["channel"],
                        "first_at": row["first_at"].isoformat(),
                    },
                )
            )
    return out


def subject_new_channel_rule(ctx: Any, rule: AlertRuleSettings) -> list[Candidate]:
    """A subject reaching a new channel (first appearance there within the last window)."""
    found = evaluate_new_channels(
        rule, subject_channel_firsts(ctx.engine, ctx.now, _names(rule)), ctx.now, ctx.tz
    )
    out = []
    for c in found:
        ids = subject_document_sample(
            ctx.engine, c.evidence["subject_name"], c.since, ctx.now, c.evidence["channel"]
        )
        out.append(replace(c, scope=DocScope(document_ids=tuple(ids))))
    return out
