"""The week's heat and agenda rankings, computed by :mod:`analytics.heat` over the rollups (I/O edge).

The whole week is the current window and the four weeks before it the growth baseline; scores are
evaluated at the end of the week, so re-running a past week gives the same ranking. Rollups hold
tagged documents only and are refreshed by the scheduler; :func:`rollup_volume` lets the report
say when they lag behind the documents.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from analytics.heat import HeatParams, HeatWeights, heat_input, rank_heat
from analytics.heat import rank_agenda as rank_agenda_cells
from storage.queries import QueryFilters, agenda_activity, topic_activity, topics_frame, total

WEEK_HOURS = 7 * 24
BASELINE_DAYS = 28  # growth compares the week with the hourly rate of the four weeks before it
TOP_ISSUES = 10


def _heat_params() -> HeatParams:
    return HeatParams(window_hours=WEEK_HOURS, baseline_days=BASELINE_DAYS, persistence_buckets=WEEK_HOURS)


def rank_topics(engine: Engine, settings: Any, start: datetime, end: datetime) -> pd.DataFrame:
    """Topics active in [start, end) ranked by heat at ``end`` (rollups; ``topic_id``, heat, c_*)."""
    frame = topic_activity(engine, QueryFilters(start, end), timedelta(days=BASELINE_DAYS))
    weights = HeatWeights(**settings.analytics.heat_weights.model_dump())
    ranked = rank_heat(
        heat_input(frame, ["topic_id"]), weights, pd.Timestamp(end), _heat_params(), keys=("topic_id",)
    )
    return ranked.sort_values(["heat", "topic_id"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def rank_agenda(engine: Engine, settings: Any, start: datetime, end: datetime) -> pd.DataFrame:
    """Known category x province cells ranked by agenda priority at ``end`` (rollups)."""
    # The same read as the dashboard's agenda (rollup levels), so both rank the same cells.
    frame = agenda_activity(engine, QueryFilters(start, end), timedelta(days=BASELINE_DAYS))
    frame = frame[(frame["category"] != "") & (frame["province"] != "")]
    ranked = rank_agenda_cells(
        heat_input(frame, ["category", "province"]),
        None,
        pd.Timestamp(end),
        _heat_params(),
        category="category",
        region="province",
    )
    keys = ["priority", "category", "province"]
    return ranked.sort_values(keys, ascending=[False, True, True], kind="stable").reset_index(drop=True)


def topic_labels(engine: Engine, ranked: pd.DataFrame) -> dict[int, str]:
    """Labels of the top ranked topics (``topics.label``)."""
    ids = [int(i) for i in ranked.head(TOP_ISSUES)["topic_id"]] if not ranked.empty else []
    if not ids:
        return {}
    frame = topics_frame(engine, ids)
    return {int(r.id): str(r.label) for r in frame.itertuples()}


def rollup_volume(engine: Engine, start: datetime, end: datetime) -> int:
    """Documents the rollups count in [start, end) (tagged documents, copies included)."""
    return int(total(engine, QueryFilters(start, end))["n"])
