"""Alert look-ups by id for the dashboard (an alert link ``/alerts?alert=ID`` names one alert).

:func:`storage.queries.alerts_frame` lists the open alerts and those of the period; a link may
name an alert outside both (resolved last month), so it is read here by id, with the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, and_, func, or_, select

from storage import schema as s
from storage.filters import QueryFilters, to_utc

TIME_COLUMNS = ("first_seen", "last_seen", "last_notified", "acked_at", "resolved_at")


def alerts_by_ids(engine: Engine, ids: Sequence[int]) -> pd.DataFrame:
    """The alerts with these ids (unknown ids are skipped), newest first, as :func:`alerts_frame` rows."""
    a = s.alerts
    wanted = sorted({int(i) for i in ids})
    q = select(a).where(a.c.id.in_(wanted)).order_by(a.c.last_seen.desc(), a.c.id.desc())
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)] if wanted else []
    frame = pd.DataFrame(rows, columns=[c.name for c in a.c])
    for col in TIME_COLUMNS:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


__all__ = ["alerts_by_ids"]


_KEY_FILTERS = {
    "channel": "channels",
    "category": "categories",
    "region": "provinces",
    "province": "provinces",
}


def alert_matches(key: str, f: QueryFilters) -> bool:
    """Whether an alert key (``"category=环境保护"``) passes the dimension filters."""
    dim, sep, value = key.partition("=")
    if not sep or dim not in _KEY_FILTERS:
        return True
    allowed = getattr(f, _KEY_FILTERS[dim])
    return not allowed or value in allowed


def alerts_frame(
    engine: Engine, f: QueryFilters | None = None, *, include_resolved: bool = True, limit: int = 500
) -> pd.DataFrame:
    """Open alerts (any age) and, if asked, alerts last seen in the period; newest first."""
    a = s.alerts
    cond = a.c.status != "resolved"
    if include_resolved and f is not None:
        cond = or_(cond, and_(a.c.last_seen >= f.start, a.c.last_seen < f.end))
    q = select(a).where(cond).order_by(a.c.last_seen.desc(), a.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        frame = pd.DataFrame([dict(r._mapping) for r in conn.execute(q)], columns=[c.name for c in a.c])
    if f is not None and not frame.empty:
        frame = frame.loc[[alert_matches(k, f) for k in frame["key"]]].reset_index(drop=True)
    for col in ("first_seen", "last_seen", "last_notified", "acked_at", "resolved_at"):
        frame[col] = to_utc(frame[col])
    return frame


def alert_events_frame(engine: Engine, alert_id: int) -> pd.DataFrame:
    """The state changes of one alert, oldest first."""
    e = s.alert_events
    q = select(e.c.at, e.c.event, e.c.actor, e.c.note).where(e.c.alert_id == int(alert_id)).order_by(e.c.id)
    with engine.connect() as conn:
        frame = pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=["at", "event", "actor", "note"])
    frame["at"] = to_utc(frame["at"])
    return frame


def open_alert_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(s.alerts.c.status != "resolved")).scalar_one())


def count_alerts_fired(engine: Engine, f: QueryFilters) -> int:
    """Alerts first seen in the period that pass the dimension filters."""
    a = s.alerts
    q = select(a.c.key).where(a.c.first_seen >= f.start, a.c.first_seen < f.end)
    with engine.connect() as conn:
        return sum(1 for (key,) in conn.execute(q) if alert_matches(key, f))


def active_silences(engine: Engine, now: datetime) -> pd.DataFrame:
    si = s.silences
    q = select(si).where(si.c.until > now).order_by(si.c.until)
    with engine.connect() as conn:
        return pd.DataFrame([dict(r._mapping) for r in conn.execute(q)], columns=[c.name for c in si.c])
