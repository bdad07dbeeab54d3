"""What the encoder tier takes first: the priority channels, the current hot topics and open alerts.

Hot topics are ranked as the dashboard's 热点话题 page ranks them for its default period (the last
7 days, heat weights from ``analytics.heat_weights``); their documents of that period, and those in
the scope and window of every open alert (:func:`storage.encoder_backlog.open_alert_scopes`), form
the encoder's second priority class. :class:`PriorityCache` recomputes it every few minutes for a
worker.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from analytics.heat import HeatParams, HeatWeights, heat_input, rank_heat
from storage import queries as q
from storage.encoder_backlog import HOT_PERIOD, Priority, open_alert_scopes
from storage.types import utcnow

log = logging.getLogger(__name__)
LOOKBACK = timedelta(days=7)  # the history heat growth compares with (as on the dashboard)
REFRESH_SECONDS = 300.0


def hot_topic_ids(
    engine: Engine, now: datetime, n: int, weights: HeatWeights | None = None, period: timedelta = HOT_PERIOD
) -> list[int]:
    """The ``n`` hottest topics over ``period`` before ``now`` (documents in the period only)."""
    if n <= 0:
        return []
    f = q.QueryFilters(start=now - period, end=now)
    raw = q.topic_activity(engine, f, LOOKBACK)
    if raw.empty:
        return []
    hours = max(1, int(period.total_seconds() // 3600))
    params = HeatParams(window_hours=hours, baseline_days=LOOKBACK.days, persistence_buckets=min(hours, 168))
    ranked = rank_heat(heat_input(raw, ["topic_id"]), weights, pd.Timestamp(now), params, ("topic_id",))
    if "n" in ranked.columns:
        ranked = ranked.loc[ranked["n"] > 0]
    return [int(t) for t in ranked["topic_id"].head(n)]


def current_priority(engine: Engine, settings: Any, now: datetime | None = None) -> Priority:
    """The encoder tier's priority now, from ``nlp.encoder`` and the store."""
    now = now or utcnow()
    cfg = settings.nlp.encoder
    weights = HeatWeights(**settings.analytics.heat_weights.model_dump())
    return Priority(
        channels=tuple(cfg.priority_channels),
        topic_ids=tuple(hot_topic_ids(engine, now, cfg.hot_topics, weights)),
        topics_since=now - HOT_PERIOD,
        alerts=tuple(open_alert_scopes(engine, now)),
    )


class PriorityCache:
    """:func:`current_priority`, recomputed at most every :data:`REFRESH_SECONDS`; on a failure the
    channels alone (the worker must not stop over a ranking)."""

    def __init__(self, engine: Engine, settings: Any, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.engine, self.settings, self.refresh_seconds = engine, settings, refresh_seconds
        self._value: Priority | None = None
        self._at = float("-inf")

    def get(self) -> Priority:
        if self._value is None or time.monotonic() - self._at >= self.refresh_seconds:
            try:
                self._value = current_priority(self.engine, self.settings)
            except Exception:  # noqa: BLE001 - logged; the channels still come first
                log.exception("encoder priority: hot topics and alerts could not be read")
                self._value = Priority(channels=tuple(self.settings.nlp.encoder.priority_channels))
            self._at = time.monotonic()
        return self._value
