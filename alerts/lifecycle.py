"""Alert lifecycle: de-duplicate, auto-resolve, notify with cooldown and re-notify, silence, ack and resolve.

States: ``open`` -> ``acknowledged`` -> ``resolved`` (``open`` -> ``resolved`` directly too). The
database keeps one active (not resolved) alert per rule x key (a partial unique index), so a
condition that keeps holding updates its alert instead of opening another. Every state change
is written to ``alert_events`` with who (a user name, or ``system``) and when, in the same
transaction as the change; manual actions also go to ``audit_log``.

Notification policy, per rule (``AlertRuleSettings``):

* a new alert is notified at once, unless its rule x key was notified less than
  ``cooldown_minutes`` ago (a flapping condition), in which case it waits for the cooldown;
* an alert still ``open`` (not acknowledged) is re-notified every ``renotify_minutes`` (0: never);
* alerts matching an active silence (rule, and key unless the silence covers every key) are not
  notified until the silence ends; silences expire by themselves;
* due alerts of the same rule are grouped into one notification per notifier.

Auto-resolve: an active alert whose condition no longer holds is resolved by ``system`` once its
last firing is older than the rule's hold time (one window for windowed rules), so a spike that
dips for one evaluation does not resolve and re-open.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from alerts.rules import Candidate
from kernel.settings import AlertRuleSettings
from storage import schema as s
from storage.alert_actions import ACTIVE, SYSTEM, record_event, resolve_in

log = logging.getLogger(__name__)

WINDOWED_KINDS = ("volume_spike", "negative_share", "emerging_topic")


def hold_for(rule: AlertRuleSettings) -> timedelta:
    """How long a condition must stay clear before its alert auto-resolves."""
    return timedelta(hours=rule.window_hours) if rule.kind in WINDOWED_KINDS else timedelta(0)


def _evidence(c: Candidate, stored: dict[str, Any] | None) -> dict[str, Any]:
    since = c.since
    if stored and stored.get("since"):
        since = min(since, datetime.fromisoformat(stored["since"]))  # an episode keeps its start
    return {**c.evidence, "since": since.isoformat()}


def apply_candidates(
    conn: Connection, rule: AlertRuleSettings, candidates: Sequence[Candidate], now: datetime
) -> dict[str, int]:
    """Open, refresh or auto-resolve the alerts of one evaluated rule; returns counts."""
    a = s.alerts
    active = {r.key: r for r in conn.execute(select(a).where(a.c.rule == rule.name, a.c.status.in_(ACTIVE)))}
    counts = {"fired": 0, "updated": 0, "resolved": 0}
    for c in candidates:
        row = active.get(c.key)
        values = {
            "title": c.title,
            "message": c.summary,
            "severity": c.severity,
            "value": c.value,
            "baseline": c.baseline,
            "last_seen": now,
        }
        if row is not None:
            values["evidence"] = _evidence(c, row.evidence)
            conn.execute(update(a).where(a.c.id == row.id).values(**values))
            counts["updated"] += 1
            continue
        alert_id = conn.execute(
            a.insert()
            .values(
                rule=rule.name,
                key=c.key,
                status="open",
                first_seen=now,
                evidence=_evidence(c, None),
                **values,
            )
            .returning(a.c.id)
        ).scalar_one()
        record_event(conn, alert_id, "fired", SYSTEM, now, c.summary)
        counts["fired"] += 1
    firing = {c.key for c in candidates}
    hold = hold_for(rule)
    for key, row in active.items():
        if key not in firing and now - row.last_seen >= hold:
            resolve_in(conn, row.id, SYSTEM, now, "条件已恢复正常，自动解除")
            counts["resolved"] += 1
    return counts


def resolve_orphans(conn: Connection, rule_names: set[str], now: datetime) -> int:
    """Resolve active alerts of rules that were disabled or removed from the configuration."""
    a = s.alerts
    rows = (
        conn.execute(select(a.c.id).where(a.c.status.in_(ACTIVE), a.c.rule.not_in(rule_names)))
        .scalars()
        .all()
    )
    for alert_id in rows:
        resolve_in(conn, alert_id, SYSTEM, now, "规则已停用或已从配置中删除，自动解除")
    return len(rows)


def active_silences(conn: Connection, rule: str, now: datetime) -> list[Any]:
    """Silences of ``rule`` in force at ``now``."""
    sl = s.silences
    return list(conn.execute(select(sl).where(sl.c.rule == rule, sl.c.until > now)))


def due_for_notification(
    conn: Connection, rule: AlertRuleSettings, now: datetime
) -> tuple[list[Any], list[Any]]:
    """Open alerts of ``rule`` to notify now: (first notifications, reminders)."""
    a = s.alerts
    silences = active_silences(conn, rule.name, now)
    silenced_all = any(x.key is None for x in silences)
    silenced_keys = {x.key for x in silences}
    q = select(a.c.key, func.max(a.c.last_notified)).where(a.c.rule == rule.name).group_by(a.c.key)
    last_by_key: dict[str, datetime | None] = {key: at for key, at in conn.execute(q)}
    new: list[Any] = []
    reminders: list[Any] = []
    rows = conn.execute(select(a).where(a.c.rule == rule.name, a.c.status == "open").order_by(a.c.id)).all()
    for row in rows:
        if silenced_all or row.key in silenced_keys:
            continue
        if row.last_notified is None:
            previous = last_by_key.get(row.key)
            if previous is None or now - previous >= timedelta(minutes=rule.cooldown_minutes):
                new.append(row)
        elif rule.renotify_minutes and now - row.last_notified >= timedelta(minutes=rule.renotify_minutes):
            reminders.append(row)
    return new, reminders


def mark_notified(conn: Connection, alert_ids: Sequence[int], now: datetime, note: str) -> None:
    """Record that notifications for ``alert_ids`` were queued (same transaction as the outbox rows)."""
    conn.execute(update(s.alerts).where(s.alerts.c.id.in_(list(alert_ids))).values(last_notified=now))
    for alert_id in alert_ids:
        record_event(conn, alert_id, "notified", SYSTEM, now, note)
