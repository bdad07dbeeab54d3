"""The alert engine, the I/O edge: evaluate every rule, store alerts and their notifications, deliver.

Two scheduled jobs (``sensing/jobs.py``):

* :func:`evaluate_rules` loads what each enabled rule needs, asks the pure rule functions for
  candidates, then in **one transaction** opens / refreshes / auto-resolves alerts, records
  every state change and queues the notifications that are due in the outbox. Nothing is sent
  here: a notification exists only once its alert is committed.
* :func:`deliver_outbox` claims due outbox rows and sends them, retrying with back-off until
  they succeed or expire (see ``alerts/outbox.py`` for the crash guarantees).

A rule that fails to evaluate is logged and skipped; its alerts are left as they are (they are
not auto-resolved on missing data).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pandas as pd
from sqlalchemy import Engine, select

from alerts import lifecycle, outbox
from alerts.content_rules import evaluate_emerging, evaluate_keyword
from alerts.loaders import (
    data_start,
    load_rollup_frame,
    load_window_documents,
    recent_events,
    representative_documents,
    source_activity,
    topic_labels,
)
from alerts.message import build_notification, dashboard_base_url
from alerts.notifiers import DeliveryError, Notification, Notifier, build_notifier
from alerts.notifiers.base import HTTP_TIMEOUT
from alerts.rules import Candidate, evaluate_negative_share, evaluate_source_silence, evaluate_volume
from kernel import plugins
from kernel.errors import describe_error
from kernel.settings import AlertRuleSettings, NotifierSettings, Settings
from storage import alert_actions
from storage import schema as s
from storage.db import write_tx
from storage.types import utcnow

log = logging.getLogger(__name__)


@dataclass
class EvaluationContext:
    """Inputs shared by the rules of one evaluation, loaded at most once each."""

    engine: Any
    settings: Settings
    now: datetime
    _frames: dict[tuple[str, int, int], pd.DataFrame] = field(default_factory=dict)
    _start: list[datetime | None] = field(default_factory=list)
    _labels: dict[str, str] | None = None
    _events: list[dict[str, Any]] | None = None

    @property
    def tz(self) -> str:
        return self.settings.app.timezone

    def data_start(self) -> datetime | None:
        if not self._start:
            self._start.append(data_start(self.engine))
        return self._start[0]

    def frame(self, rule: AlertRuleSettings) -> pd.DataFrame:
        key = (rule.dimension, rule.lookback_days, rule.window_hours)
        if key not in self._frames:
            start = self.now - timedelta(days=rule.lookback_days + 1, hours=rule.window_hours + 1)
            self._frames[key] = load_rollup_frame(self.engine, rule.dimension, start, self.now)
        return self._frames[key]

    def labels(self) -> dict[str, str]:
        if self._labels is None:
            self._labels = topic_labels(self.engine)
        return self._labels

    def events(self) -> list[dict[str, Any]]:
        """Events of the last week, mentioned in the notifications of alerts on their issue."""
        if self._events is None:
            self._events = recent_events(self.engine, self.now)
        return self._events


# Rule kinds: the ``minsheng.rules`` entry points name these functions (and any third party's):
# each takes the evaluation context and one rule's settings and returns its candidates.


def volume_spike_rule(ctx: EvaluationContext, rule: AlertRuleSettings) -> list[Candidate]:
    return evaluate_volume(
        rule, ctx.frame(rule), ctx.now, data_start=ctx.data_start(), labels=ctx.labels(), tz=ctx.tz
    )


def negative_share_rule(ctx: EvaluationContext, rule: AlertRuleSettings) -> list[Candidate]:
    return evaluate_negative_share(
        rule, ctx.frame(rule), ctx.now, data_start=ctx.data_start(), labels=ctx.labels(), tz=ctx.tz
    )


def keyword_rule(ctx: EvaluationContext, rule: AlertRuleSettings) -> list[Candidate]:
    from analytics.watchlist import compile_expression

    docs = load_window_documents(ctx.engine, ctx.now - timedelta(hours=rule.window_hours), ctx.now)
    return evaluate_keyword(rule, docs, ctx.now, compile_expression(rule.expression or ""), tz=ctx.tz)


def emerging_topic_rule(ctx: EvaluationContext, rule: AlertRuleSettings) -> list[Candidate]:
    return evaluate_emerging(rule, ctx.frame(rule), ctx.now, labels=ctx.labels(), tz=ctx.tz)


def source_silence_rule(ctx: EvaluationContext, rule: AlertRuleSettings) -> list[Candidate]:
    activity = source_activity(ctx.engine, ctx.settings.sources)
    return evaluate_source_silence(rule, activity, ctx.now, tz=ctx.tz)


def model_drift_rule(ctx: EvaluationContext, rule: AlertRuleSettings) -> list[Candidate]:
    from alerts.rules import evaluate_model_drift
    from storage.corrections import drift_by_source_week, label_shift

    since = ctx.now - timedelta(days=21)  # this week and the two before: enough for the newest shift
    drift = drift_by_source_week(ctx.engine, "sentiment", ctx.settings.nlp.low_confidence, since=since)
    return evaluate_model_drift(rule, drift, label_shift(drift), ctx.now)


def with_documents(engine: Any, candidate: Candidate, now: datetime) -> Candidate:
    """The candidate with its three representative documents added to the evidence."""
    docs = representative_documents(engine, candidate.scope, now) if candidate.scope is not None else []
    ids = [d["id"] for d in docs]  # document_ids: what the dashboard's alert page lists
    return replace(candidate, evidence={**candidate.evidence, "documents": docs, "document_ids": ids})


def notification_key(
    notifier: str, rule: str, alert_ids: Sequence[int], reminder: bool, now: datetime
) -> str:
    """Outbox dedup key and receivers' idempotency key: one per notifier x group x notification round."""
    raw = f"{rule}|{'reminder' if reminder else 'new'}|{','.join(map(str, sorted(alert_ids)))}|{now.isoformat()}"
    return f"{notifier}-{hashlib.sha256(raw.encode('utf-8')).hexdigest()[:40]}"


def queue_notifications(conn: Any, ctx: EvaluationContext, rule: AlertRuleSettings) -> int:
    """Queue one grouped notification per notifier for the rule's due alerts; returns outbox rows added."""
    if not rule.notify:
        return 0
    new, reminders = lifecycle.due_for_notification(conn, rule, ctx.now)
    expires = ctx.now + timedelta(hours=ctx.settings.alerts.delivery_expiry_hours)
    base_url = dashboard_base_url(ctx.settings)
    added = 0
    for rows, reminder in ((new, False), (reminders, True)):
        if not rows:
            continue
        alerts = [dict(r._mapping) for r in rows]
        ids = [int(a["id"]) for a in alerts]
        for name in rule.notify:
            key = notification_key(name, rule.name, ids, reminder, ctx.now)
            note = build_notification(
                alerts,
                idempotency_key=key,
                base_url=base_url,
                tz=ctx.tz,
                created_at=ctx.now,
                reminder=reminder,
                events=ctx.events(),
            )
            payload = note.to_payload()
            added += outbox.enqueue(
                conn,
                ctx.engine,
                notifier=name,
                dedup_key=key,
                payload=payload,
                alert_id=ids[0],
                now=ctx.now,
                expires_at=expires,
            )
        label = "提醒" if reminder else "通知"
        lifecycle.mark_notified(conn, ids, ctx.now, f"{label}已加入发送队列：{', '.join(rule.notify)}")
    return added


def evaluate_rules(engine: Engine, settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """Evaluate every enabled rule once and commit the resulting alerts and notifications.

    Returns:
        Counts for the job log: rules, errors, fired, updated, resolved, queued.
    """
    now = now or utcnow()
    ctx = EvaluationContext(engine, settings, now)
    rules = [r for r in settings.alerts.rules if r.enabled]
    found: dict[str, list[Candidate]] = {}
    counts: dict[str, Any] = {
        "rules": len(rules),
        "errors": 0,
        "fired": 0,
        "updated": 0,
        "resolved": 0,
        "queued": 0,
    }
    for rule in rules:
        try:
            found[rule.name] = [
                with_documents(ctx.engine, c, now) for c in plugins.load(plugins.RULES, rule.kind)(ctx, rule)
            ]
        except Exception as exc:  # one broken rule must not stop the others
            counts["errors"] += 1
            log.exception("alert rule failed", extra={"rule": rule.name, "error": describe_error(exc)})
    if any(r.notify for r in rules):
        ctx.events()  # read before the write transaction takes the SQLite lock
    with write_tx(ctx.engine) as conn:
        for rule in rules:
            if rule.name in found:
                for k, v in lifecycle.apply_candidates(conn, rule, found[rule.name], now).items():
                    counts[k] += v
        counts["resolved"] += lifecycle.resolve_orphans(conn, {r.name for r in rules}, now)
        for rule in rules:
            counts["queued"] += queue_notifications(conn, ctx, rule)
    log.info("alert rules evaluated", extra=counts)
    return counts


def _alert_ids(payload: dict[str, Any]) -> list[int]:
    return [int(a["id"]) for a in payload.get("alerts") or [] if "id" in a]


def _record_delivery(engine: Any, row: outbox.OutboxRow, event: str, note: str, now: datetime) -> None:
    with write_tx(engine) as conn:
        existing = set(
            conn.execute(select(s.alerts.c.id).where(s.alerts.c.id.in_(_alert_ids(row.payload)))).scalars()
        )
        for alert_id in _alert_ids(row.payload):
            if alert_id in existing:
                alert_actions.record_event(conn, alert_id, event, f"notifier:{row.notifier}", now, note)


def deliver_outbox(
    engine: Engine,
    notifiers: Sequence[NotifierSettings],
    *,
    now: datetime | None = None,
    lease: timedelta = outbox.DEFAULT_LEASE,
    limit: int = 50,
    client: httpx.Client | None = None,
) -> dict[str, Any]:
    """Send due outbox rows once each; failures are rescheduled with back-off, overdue rows expire.

    Returns:
        Counts for the job log: claimed, sent, failed, expired.
    """
    fixed = now

    def clock() -> datetime:
        return fixed if fixed is not None else utcnow()

    now = clock()
    configs = {n.name: n for n in notifiers}
    counts = {"claimed": 0, "sent": 0, "failed": 0, "expired": 0}
    for row in outbox.expire_overdue(engine, now):
        counts["expired"] += 1
        _record_delivery(engine, row, "delivery_expired", f"{row.attempts} 次尝试后仍未送达", now)
    rows = outbox.claim_due(engine, now, lease=lease, limit=limit)
    counts["claimed"] = len(rows)
    if not rows:
        return counts
    own_client = client is None
    http = client or httpx.Client(timeout=HTTP_TIMEOUT)
    built: dict[str, Notifier] = {}
    try:
        for row in rows:
            cfg = configs.get(row.notifier)
            if cfg is None:
                outbox.mark_expired(engine, row.id, f"notifier {row.notifier!r} is no longer configured")
                counts["expired"] += 1
                continue
            try:
                notifier = built.get(row.notifier) or build_notifier(cfg, http)
                built[row.notifier] = notifier
                notifier.send(Notification.from_payload(row.payload))
            except Exception as exc:  # DeliveryError, or a bug in a notifier: retry either way
                error = str(exc) if isinstance(exc, DeliveryError) else describe_error(exc)
                retry_at = outbox.mark_failed(engine, row, clock(), error)
                counts["failed"] += 1
                log.warning(
                    "notification not delivered",
                    extra={
                        "notifier": row.notifier,
                        "outbox_id": row.id,
                        "attempt": row.attempts,
                        "retry_at": str(retry_at),
                        "error": error,
                    },
                )
                continue
            sent_at = clock()
            outbox.mark_sent(engine, row.id, sent_at)
            counts["sent"] += 1
            _record_delivery(engine, row, "delivered", f"第 {row.attempts} 次尝试送达", sent_at)
    finally:
        if own_client:
            http.close()
    log.info("outbox delivered", extra=counts)
    return counts
