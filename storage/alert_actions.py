"""What duty staff do to alerts: acknowledge, resolve, silence; and the history every change leaves.

Every state change is written to ``alert_events`` with who and when, in the same transaction as
the change; manual actions also go to ``audit_log``. The automatic side of the lifecycle
(de-duplication, auto-resolve, notification policy) is :mod:`alerts.lifecycle`, which builds on
these writes; the dashboard and ``sensing alerts`` call the actions here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.engine import Connection

from storage import schema as s
from storage.db import write_tx
from storage.types import utcnow

ACTIVE = ("open", "acknowledged")
SYSTEM = "system"


class AlertNotFoundError(LookupError):
    """No alert with that id."""


class AlertStateError(ValueError):
    """The action does not apply to the alert's current state (e.g. resolving a resolved alert)."""


def record_event(
    conn: Connection, alert_id: int, event: str, actor: str, at: datetime, note: str | None = None
) -> None:
    """Append one state change to the alert's history."""
    conn.execute(
        s.alert_events.insert().values(alert_id=alert_id, event=event, actor=actor, note=note, at=at)
    )


def resolve_in(conn: Connection, alert_id: int, actor: str, now: datetime, note: str | None) -> None:
    """Resolve ``alert_id`` inside ``conn``'s transaction and record who did it."""
    conn.execute(
        update(s.alerts)
        .where(s.alerts.c.id == alert_id)
        .values(status="resolved", resolved_by=actor, resolved_at=now, **({"note": note} if note else {}))
    )
    record_event(conn, alert_id, "resolved", actor, now, note)


# -- actions by duty staff ---------------------------------------------------------------------
def _audit(
    conn: Connection, user: str, action: str, target: str, detail: dict[str, Any], now: datetime
) -> None:
    conn.execute(s.audit_log.insert().values(at=now, user=user, action=action, target=target, detail=detail))


def _load(conn: Connection, alert_id: int) -> Any:
    row = conn.execute(select(s.alerts).where(s.alerts.c.id == alert_id)).first()
    if row is None:
        raise AlertNotFoundError(f"预警 {alert_id} 不存在")
    return row


def acknowledge_alert(
    engine: Engine, alert_id: int, user: str, note: str | None = None, now: datetime | None = None
) -> None:
    """Acknowledge an open alert: it stays active but is no longer re-notified.

    Raises:
        AlertNotFoundError: no such alert.
        AlertStateError: the alert is already acknowledged or resolved.
    """
    now = now or utcnow()
    with write_tx(engine) as conn:
        row = _load(conn, alert_id)
        if row.status != "open":
            by = row.acked_by if row.status == "acknowledged" else row.resolved_by
            raise AlertStateError(f"预警 {alert_id} 状态为 {row.status}（{by}），不能再确认")
        values: dict[str, Any] = {"status": "acknowledged", "acked_by": user, "acked_at": now}
        if note:
            values["note"] = note
        conn.execute(update(s.alerts).where(s.alerts.c.id == alert_id).values(**values))
        record_event(conn, alert_id, "acknowledged", user, now, note)
        _audit(conn, user, "alert.acknowledge", str(alert_id), {"note": note}, now)


def resolve_alert(
    engine: Engine, alert_id: int, user: str, note: str | None = None, now: datetime | None = None
) -> None:
    """Resolve an active alert by hand; if the condition still holds, a new alert opens later.

    Raises:
        AlertNotFoundError: no such alert.
        AlertStateError: the alert is already resolved.
    """
    now = now or utcnow()
    with write_tx(engine) as conn:
        row = _load(conn, alert_id)
        if row.status not in ACTIVE:
            raise AlertStateError(f"预警 {alert_id} 已由 {row.resolved_by} 解除")
        resolve_in(conn, alert_id, user, now, note)
        _audit(conn, user, "alert.resolve", str(alert_id), {"note": note}, now)


def create_silence(
    engine: Engine,
    rule: str,
    until: datetime,
    user: str,
    *,
    key: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> int:
    """Stop notifications for ``rule`` (one ``key``, or every key) until ``until``; returns the silence id.

    Alerts keep being recorded while silenced; each active alert the silence covers gets a
    ``silenced`` event.
    """
    now = now or utcnow()
    if until <= now:
        raise ValueError("a silence must end in the future")
    with write_tx(engine) as conn:
        silence_id = conn.execute(
            s.silences.insert()
            .values(rule=rule, key=key, until=until, created_by=user, note=note, created_at=now)
            .returning(s.silences.c.id)
        ).scalar_one()
        a = s.alerts
        q = select(a.c.id).where(a.c.rule == rule, a.c.status.in_(ACTIVE))
        if key is not None:
            q = q.where(a.c.key == key)
        for alert_id in conn.execute(q).scalars().all():
            record_event(
                conn,
                alert_id,
                "silenced",
                user,
                now,
                f"静默至 {until.isoformat()}" + (f"：{note}" if note else ""),
            )
        _audit(conn, user, "alert.silence", rule, {"key": key, "until": until.isoformat(), "note": note}, now)
    return int(silence_id)


def end_silence(engine: Engine, silence_id: int, user: str, now: datetime | None = None) -> None:
    """End a silence now."""
    now = now or utcnow()
    with write_tx(engine) as conn:
        done = conn.execute(
            update(s.silences)
            .where(s.silences.c.id == silence_id, s.silences.c.until > now)
            .values(until=now)
        )
        if not done.rowcount:
            raise AlertStateError(f"静默 {silence_id} 不存在或已结束")
        _audit(conn, user, "alert.unsilence", str(silence_id), {}, now)


def list_alerts(
    engine: Engine, statuses: Sequence[str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Alerts newest first, optionally only those in ``statuses``."""
    a = s.alerts
    q = select(a).order_by(a.c.last_seen.desc(), a.c.id.desc()).limit(limit)
    if statuses:
        q = q.where(a.c.status.in_(list(statuses)))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def list_silences(
    engine: Engine, now: datetime | None = None, rule: str | None = None
) -> list[dict[str, Any]]:
    """Silences in force, soonest-ending first."""
    sl = s.silences
    q = select(sl).where(sl.c.until > (now or utcnow())).order_by(sl.c.until)
    if rule:
        q = q.where(sl.c.rule == rule)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
