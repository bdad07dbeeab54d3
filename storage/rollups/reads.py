"""Reading the rollups: sums over a period from the hourly rows and the daily/monthly levels.

:func:`rollup_sums` is the one place a read decides which level serves which part of a period;
the dashboard's reads (:mod:`storage.queries`) and the document counts
(:mod:`storage.document_queries`) both build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select, union_all

from storage import schema as s
from storage.filters import QueryFilters, dim_conditions, filter_dims, tag_dims
from storage.rollups import levels as lv

MEASURES = ("n", "n_unique", "likes", "reposts", "comments", "reads")
DIMENSIONS = ("bucket", "channel", "category", "province", "topic_id", "sentiment")
ROLLUP_KEYS = (*DIMENSIONS, "source_id")  # the hourly rollups' key (a source is filtered on, not grouped by)
# Reads grouped by bucket keep hourly buckets for the last two weeks of the period (heat persistence,
# emerging topics and growth baselines look back that far); older whole local days come as days.
HOURLY_TAIL = timedelta(days=14)


def _piece_select(
    engine: Engine,
    f: QueryFilters,
    piece: lv.Piece,
    grouping: int | None,
    by: Sequence[str],
    measures: Sequence[str],
    topic_ids: Sequence[int] | None,
) -> Any:
    """One part of a period: hourly rollups, a daily/monthly level, or (dimensions the hourly rollups
    lack) the tags themselves; columns ``by`` + ``measures``."""
    if piece.level == "hour" and set(by) | filter_dims(f) <= set(ROLLUP_KEYS):
        table: Any = s.rollups
        dims = {name: table.c[name] for name in ROLLUP_KEYS}
        sums = [func.sum(table.c[m]).label(m) for m in measures]
        conds = [table.c.bucket >= piece.start, table.c.bucket < piece.end]
    elif piece.level == "hour":
        if set(measures) - {"n"}:
            raise ValueError(f"only n can be counted from the tags, not {sorted(measures)}")
        t = s.doc_tags
        table, dims = t, tag_dims(engine)
        sums = [func.count().label("n")]
        conds = [t.c.published_at >= piece.start, t.c.published_at < piece.end]
    else:
        daily, monthly = lv.level_tables() or (None, None)
        table = daily if piece.level == "day" else monthly
        dims = {name: table.c[name] for name in (*lv.LEVEL_DIMS, "bucket")}
        sums = [func.sum(table.c[m]).label(m) for m in measures]
        conds = [table.c.grouping == grouping, table.c.bucket >= piece.start, table.c.bucket < piece.end]
    conds += dim_conditions(dims, f)
    if topic_ids is not None:
        conds.append(dims["topic_id"].in_([int(i) for i in topic_ids]))
    q = select(*[dims[name].label(name) for name in by], *sums).select_from(table).where(*conds)
    return q.group_by(*[dims[name] for name in by]) if by else q


def rollup_sums(
    engine: Engine,
    f: QueryFilters,
    by: Sequence[str],
    measures: Sequence[str] = MEASURES,
    *,
    topic_ids: Sequence[int] | None = None,
) -> Any:
    """A select of ``by`` + ``measures`` summed over ``[f.start, f.end)`` from the rollups, filtered by ``f``'s
    dimensions (not its source or keyword).

    Whole local months and days come from the daily and monthly levels (see
    :mod:`storage.rollups.levels`) when they are built; the rest from the hourly rollups (or, for
    emotion, city and district, which those lack, from the tags). Grouped by ``bucket``, rows are
    hourly for the last :data:`HOURLY_TAIL` of the period and the partial days at its start, and one
    per local day (bucket = local midnight, in UTC) before; months are then never used.
    """
    need = (
        {b for b in by if b != "bucket"} | filter_dims(f) | ({"topic_id"} if topic_ids is not None else set())
    )
    tz = lv.levels_timezone(engine)
    grouping = lv.pick_grouping(need) if tz else None
    if grouping is None or tz is None:
        pieces = [lv.Piece("hour", f.start, f.end)]
    else:
        bucketed = "bucket" in by
        coarse_before = f.end - HOURLY_TAIL if bucketed else None
        pieces = lv.plan_period(f.start, f.end, tz, months=not bucketed, coarse_before=coarse_before)
    selects = [_piece_select(engine, f, p, grouping, by, measures, topic_ids) for p in pieces]
    if len(selects) == 1:
        return selects[0]
    sub = union_all(*selects).subquery()
    q = select(*[sub.c[name] for name in by], *[func.sum(sub.c[m]).label(m) for m in measures])
    return q.group_by(*[sub.c[name] for name in by]) if by else q


__all__ = ["DIMENSIONS", "HOURLY_TAIL", "MEASURES", "ROLLUP_KEYS", "rollup_sums"]
