"""Alert look-ups by id for the dashboard (an alert link ``/alerts?alert=ID`` names one alert).

:func:`storage.queries.alerts_frame` lists the open alerts and those of the period; a link may
name an alert outside both (resolved last month), so it is read here by id, with the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Engine, select

from storage import schema as s

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
