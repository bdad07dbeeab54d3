"""Alert rule kinds on subjects (专题): a volume spike on a subject's own hourly series, a spike of
its negative share, and a subject appearing in a channel or a province for the first time.
Registered as ``subject_volume``, ``subject_negative_share``, ``subject_new_channel`` and
``subject_new_region`` (``minsheng.rules``); a rule's ``subject`` names one subject, or none for
every active one. Alerts use the usual lifecycle and notifications; their key is
``subject=NAME`` (``subject=NAME|channel=C``, ``subject=NAME|province=P``) and their title names the subject.
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
from kernel.labels import CHANNELS, place
from kernel.settings import AlertRuleSettings
from storage.subjects import subject_document_sample, subject_firsts, subject_hourly_frame


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


PLACE_WORDS = {"channel": "渠道", "province": "地区"}


def _shown(by: str, value: str) -> str:
    return CHANNELS.get(value, value) if by == "channel" else place(value)


def evaluate_new_places(
    rule: AlertRuleSettings, firsts: Sequence[dict[str, Any]], now: datetime, tz: str, by: str = "channel"
) -> list[Candidate]:
    """Channels (or provinces, ``by``) in which a subject's first document falls in the rule's last
    ``window_hours``, when the subject had appeared elsewhere before (pure)."""
    since = now - timedelta(hours=rule.window_hours)
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for row in firsts:
        by_subject.setdefault(row["subject"], []).append(row)
    out = []
    for name, rows in sorted(by_subject.items()):
        earliest = min(r["first_at"] for r in rows)
        for row in sorted(rows, key=lambda r: (r["first_at"], r["value"])):
            if row["first_at"] < since or row["first_at"] <= earliest:
                continue
            shown, where = _shown(by, row["value"]), subject_of("subject", name)
            before = "、".join(_shown(by, r["value"]) for r in rows if r["first_at"] < row["first_at"])
            out.append(
                Candidate(
                    rule=rule.name,
                    key=f"subject={name}|{by}={row['value']}",
                    title=f"{where}首次出现在{PLACE_WORDS[by]}「{shown}」",
                    summary=(
                        f"{where}于 {format_local(row['first_at'], tz)} 首次出现在{PLACE_WORDS[by]}「{shown}」"
                        f"（此前见于{before}），至今 {row['n']} 条。"
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
                        by: row["value"],
                        "first_at": row["first_at"].isoformat(),
                    },
                )
            )
    return out


def _new_place_rule(ctx: Any, rule: AlertRuleSettings, by: str) -> list[Candidate]:
    firsts = subject_firsts(ctx.engine, ctx.now, by, _names(rule))
    out = []
    for c in evaluate_new_places(rule, firsts, ctx.now, ctx.tz, by):
        where = {by: c.evidence[by]}
        ids = subject_document_sample(ctx.engine, c.evidence["subject_name"], c.since, ctx.now, **where)
        out.append(replace(c, scope=DocScope(document_ids=tuple(ids))))
    return out


def subject_new_channel_rule(ctx: Any, rule: AlertRuleSettings) -> list[Candidate]:
    """A subject reaching a new channel (its first document there within the last window)."""
    return _new_place_rule(ctx, rule, "channel")


def subject_new_region_rule(ctx: Any, rule: AlertRuleSettings) -> list[Candidate]:
    """A subject reaching a new province (its first tagged document there within the last window)."""
    return _new_place_rule(ctx, rule, "province")
