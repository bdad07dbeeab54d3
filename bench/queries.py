"""Benchmark: p50/p95 of every dashboard query of every page on the generated SQLite store.

Each page's reads (the :mod:`storage.queries` calls that ``dashboard/data.py`` makes for it, with
the same arguments) run over a spread of filters: four periods ending at the newest data (24 h,
7 d, 30 d, 1 y) x no filter, one channel, one category, one region, one sentiment, a keyword and
the largest source;
topic-scoped reads also run for a second topic. For each query the script prints p50 and p95
over that spread, and the naive query for the same figure, run in the same process on the
1-year unfiltered case: ``documents JOIN doc_tags`` with the same filters, ``GROUP BY`` the same
dimensions, into a DataFrame; ``x`` is its time over the query's own time for that case. The
headline, last, is the worst p95 (target: under 300 ms).

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.queries [--db var/bench.db] [--repeat 1]``
(build the store first with ``python -m bench.generate --n 1000000 --pool 60000``).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select, text

from bench import machine
from storage import corrections, events, reply_queries, search_index
from storage import queries as q
from storage import schema as s
from storage.db import make_engine
from storage.migrate import upgrade_database
from storage.rollups import levels as lv

RANGES = {"24h": 24, "7d": 24 * 7, "30d": 24 * 30, "1y": 24 * 365}
LOOKBACK = timedelta(days=7)  # dashboard.data.LOOKBACK_DAYS
TOPIC_TAIL = LOOKBACK + timedelta(hours=24)  # dashboard.data.topic_activity: + RECENT_HOURS
TARGET_MS = 300.0
OTHER_MODULES = ("replies", "review", "events")  # pages whose reads live outside storage/queries.py
TZ = "Asia/Shanghai"  # the app's default time zone (config.yaml app.timezone)
BUCKET_SQL = "strftime('%Y-%m-%d %H:00:00', t.published_at)"


@dataclass(frozen=True)
class Ctx:
    """Values the pages pass besides the filters."""

    now: datetime
    topic_id: int
    other_topic_id: int
    alert_id: int


@dataclass(frozen=True)
class Case:
    """One dashboard read: how the page calls it, and the naive equivalent (None: nothing to compare)."""

    page: str
    name: str
    run: Callable[[Engine, q.QueryFilters, Ctx], Any]
    naive: Callable[[Engine, q.QueryFilters, Ctx], Any] | None = None
    topic_scoped: bool = False
    filtered: bool = True  # False: the read ignores the filters, so it runs once per period


# -- naive equivalents: documents JOIN doc_tags, same filters, GROUP BY the same dimensions -----------
NAIVE_DIMS = {
    "bucket": BUCKET_SQL,
    "channel": "t.channel",
    "category": "coalesce(t.category, '')",
    "province": "coalesce(t.province, '')",
    "topic_id": "coalesce(t.topic_id, -1)",
    "sentiment": "coalesce(t.sentiment, '')",
    "emotion": "coalesce(t.emotion, '')",
    "city": "coalesce(t.city, '')",
    "district": "coalesce(t.district, '')",
}
NAIVE_MEASURES = (
    "count(*), sum(d.dup_of IS NULL), sum(d.likes), sum(d.reposts), sum(d.comments), sum(d.reads)"
)


def naive_where(f: q.QueryFilters, topic_ids: list[int] | None = None) -> tuple[str, dict[str, Any]]:
    """WHERE clause and parameters for ``f`` over ``documents d JOIN doc_tags t``."""
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    conds = ["t.published_at >= :start", "t.published_at < :end"]
    params: dict[str, Any] = {"start": f.start.strftime(fmt), "end": f.end.strftime(fmt)}
    for col, values in (
        ("t.channel", f.channels),
        ("coalesce(t.category, '')", f.categories),
        ("coalesce(t.province, '')", f.provinces),
        ("coalesce(t.sentiment, '')", f.sentiments),
    ):
        if values:
            names = []
            for v in values:
                params[f"p{len(params)}"] = v
                names.append(f":p{len(params) - 1}")
            conds.append(f"{col} IN ({', '.join(names)})")
    if f.sources:
        conds.append("d.source_id IN (SELECT id FROM sources WHERE name IN :sources)")
        params["sources"] = tuple(f.sources)
    if f.keyword:
        conds.append("(d.content LIKE :kw ESCAPE '\\' OR d.title LIKE :kw ESCAPE '\\')")
        params["kw"] = q.like_pattern(f.keyword)
    if topic_ids is not None:
        conds.append(f"t.topic_id IN ({', '.join(str(int(i)) for i in topic_ids)})")
    return " AND ".join(conds), params


def naive_group(
    engine: Engine, f: q.QueryFilters, by: list[str], measures: str = NAIVE_MEASURES, **kw: Any
) -> pd.DataFrame:
    where, params = naive_where(f, kw.get("topic_ids"))
    cols = ", ".join([*(NAIVE_DIMS[b] for b in by), measures])
    sql = f"SELECT {cols} FROM documents d JOIN doc_tags t ON t.document_id = d.id WHERE {where}"
    if by:
        sql += " GROUP BY " + ", ".join(NAIVE_DIMS[b] for b in by)
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def naive_documents(
    engine: Engine,
    f: q.QueryFilters,
    order: str,
    limit: int,
    topic_id: int | None = None,
    first_only: bool = True,
) -> pd.DataFrame:
    where, params = naive_where(f, [topic_id] if topic_id is not None else None)
    if first_only:
        where += " AND d.dup_of IS NULL"
    sql = (
        "SELECT d.*, t.category, t.sentiment, t.emotion, t.province, t.city, t.district, t.topic_id "
        f"FROM documents d JOIN doc_tags t ON t.document_id = d.id WHERE {where} ORDER BY {order} LIMIT {limit}"
    )
    with engine.connect() as conn:
        result = conn.execute(text(sql), params)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def agg_case(page: str, by: tuple[str, ...], *, previous: bool = False) -> Case:
    def run(e: Engine, f: q.QueryFilters, c: Ctx) -> Any:
        return q.aggregate(e, f.previous() if previous else f, list(by))

    def naive(e: Engine, f: q.QueryFilters, c: Ctx) -> Any:
        return naive_group(e, f.previous() if previous else f, list(by))

    return Case(page, f"breakdown({', '.join(by)}){' prev' if previous else ''}", run, naive)


def trend_case(page: str, by: str | None) -> Case:
    dims = ["bucket", by] if by else ["bucket"]
    return Case(
        page,
        f"trend({by or 'topic'})",
        lambda e, f, c: q.aggregate(e, f, dims, topic_ids=None if by else [c.topic_id]),
        lambda e, f, c: naive_group(e, f, dims, topic_ids=None if by else [c.topic_id]),
        topic_scoped=by is None,
    )


def naive_kpis(e: Engine, f: q.QueryFilters, c: Ctx) -> Any:
    out = [naive_group(e, p, ["sentiment"]) for p in (f, f.previous())]
    for p in (f, f.previous()):
        frame = naive_group(e, p, ["topic_id"])
        ids = [int(i) for i in frame[frame.columns[0]]]
        with e.connect() as conn:
            t = s.topics
            conn.execute(
                select(func.count()).where(t.c.id.in_(ids), t.c.first_seen >= p.start, t.c.first_seen < p.end)
            ).scalar_one()
    return out


def topic_activity_naive(e: Engine, f: q.QueryFilters, c: Ctx) -> Any:
    return naive_group(
        e, f.with_period(f.start - LOOKBACK, f.end), ["bucket", "topic_id", "channel", "sentiment"]
    )


def agenda_naive(e: Engine, f: q.QueryFilters, c: Ctx) -> Any:
    wide = f.with_period(f.start - LOOKBACK, f.end)
    return naive_group(e, wide, ["bucket", "category", "province", "channel", "sentiment"])


def build_cases() -> list[Case]:
    one = "count(*)"
    neg = "count(*), sum(t.sentiment = 'negative')"
    return [
        Case("sidebar", "filter_options", lambda e, f, c: q.filter_options(e),
             lambda e, f, c: [naive_group(e, f.with_period(datetime.min, datetime.max), [d], one)
                              for d in ("channel", "category", "province")], filtered=False),
        Case("overview", "kpi_summary", lambda e, f, c: q.kpi_summary(e, f), naive_kpis),
        Case("overview", "alerts(open)", lambda e, f, c: q.alerts_frame(e, f, include_resolved=False)),
        trend_case("overview", "channel"),
        trend_case("overview", "sentiment"),
        Case("overview", "topic_activity", lambda e, f, c: q.topic_activity(e, f, LOOKBACK, TOPIC_TAIL), topic_activity_naive),
        Case("overview", "topics_frame", lambda e, f, c: q.topics_frame(e), filtered=False),
        agg_case("categories", ("category", "sentiment")),
        agg_case("categories", ("category",), previous=True),
        trend_case("categories", "category"),
        agg_case("categories", ("category", "province")),
        Case("categories", "agenda_activity", lambda e, f, c: q.agenda_activity(e, f, LOOKBACK), agenda_naive),
        agg_case("regions", ("province", "sentiment")),
        Case("regions", "region_table", lambda e, f, c: q.region_table(e, f),
             lambda e, f, c: naive_group(e, f, ["province", "city", "district"], neg)),
        agg_case("sentiment", ("sentiment",)),
        agg_case("sentiment", ("channel", "sentiment")),
        agg_case("sentiment", ("province", "sentiment")),
        agg_case("sentiment", ("topic_id", "sentiment")),
        Case("sentiment", "emotion_mix", lambda e, f, c: q.emotion_mix(e, f),
             lambda e, f, c: naive_group(e, f, ["emotion"], one)),
        agg_case("topics", ("topic_id", "channel")),
        agg_case("topics", ("topic_id", "province")),
        trend_case("topics", None),
        Case("topics", "emotion_mix(topic)", lambda e, f, c: q.emotion_mix(e, f, c.topic_id),
             lambda e, f, c: naive_group(e, f, ["emotion"], one, topic_ids=[c.topic_id]), topic_scoped=True),
        Case("topics", "topic_documents", lambda e, f, c: q.topic_documents(e, f, c.topic_id, 5),
             lambda e, f, c: naive_documents(e, f, "d.dup_count DESC, d.likes + d.reposts + d.comments DESC, d.id",
                                             5, c.topic_id),
             topic_scoped=True),
        Case("search", "document_count", lambda e, f, c: q.document_count(e, f, collapse_duplicates=True),
             lambda e, f, c: naive_group(e, replace(f), [], "count(*)")),
        Case("search", "search_documents", lambda e, f, c: q.search_documents(e, f, page_size=50, collapse_duplicates=True),
             lambda e, f, c: naive_documents(e, f, "d.published_at DESC, d.id DESC", 50)),
        Case("alerts", "alerts(recent)", lambda e, f, c: q.alerts_frame(e, f, include_resolved=True)),
        Case("alerts", "alert_events", lambda e, f, c: q.alert_events_frame(e, c.alert_id), filtered=False),
        Case("alerts", "active_silences", lambda e, f, c: q.active_silences(e, c.now), filtered=False),
        Case("alerts", "documents_by_ids", lambda e, f, c: q.documents_by_ids(e, list(range(1, 51))), filtered=False),
        Case("sources", "source_health_frame", lambda e, f, c: q.source_health_frame(e, c.now), filtered=False),
        Case("sources", "tagging_backlog", lambda e, f, c: q.tagging_backlog(e), filtered=False),
        Case("reports", "report_runs_frame", lambda e, f, c: q.report_runs_frame(e), filtered=False),
        Case("replies", "load_replies", lambda e, f, c: reply_queries.load_replies(e, f)),
        Case("replies", "worst_replies", lambda e, f, c: reply_queries.worst_replies(e, f, 20)),
        Case("review", "review_queue(category)", lambda e, f, c: corrections.review_queue(e, 50, "category"), filtered=False),
        Case("review", "drift_by_source_week", lambda e, f, c: corrections.drift_by_source_week(e, "sentiment"), filtered=False),
        Case("events", "issue_series(topic)",
             lambda e, f, c: events.issue_series(e, {"at": f.end - timedelta(days=3), "topic_id": c.topic_id})),
        Case("users", "audit_frame", lambda e, f, c: q.audit_frame(e, 100), filtered=False),
    ]  # fmt: skip


def prepare_store(engine: Engine, tz: str = TZ) -> float:
    """Bring the store to the current schema (its indexes included), build the rollup levels and
    the keyword index where missing; returns the seconds it took."""
    started = time.perf_counter()
    upgrade_database(engine)
    lv.ensure_levels(engine, tz)
    search_index.create_index(engine)
    search_index.index_documents(engine, batch=20_000)
    return time.perf_counter() - started


# -- the spread of filters ------------------------------------------------------------------------
def most_common(engine: Engine, column: Any) -> str:
    r = s.rollups
    qy = select(column).where(column != "").group_by(column).order_by(func.sum(r.c.n).desc()).limit(1)
    with engine.connect() as conn:
        return str(conn.execute(qy).scalar_one())


def largest_source(engine: Engine) -> str:
    """The source with the most documents."""
    d, src = s.documents, s.sources
    qy = select(src.c.name).join(d, d.c.source_id == src.c.id).group_by(src.c.name)
    with engine.connect() as conn:
        return str(conn.execute(qy.order_by(func.count().desc()).limit(1)).scalar_one())


def make_context(engine: Engine) -> Ctx:
    r = s.rollups
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(r.c.bucket))).scalar_one()
        top = (
            conn.execute(
                select(r.c.topic_id)
                .where(r.c.topic_id >= 0)
                .group_by(r.c.topic_id)
                .order_by(func.sum(r.c.n).desc())
            )
            .scalars()
            .all()
        )
        alert_id = conn.execute(select(func.coalesce(func.max(s.alerts.c.id), 0))).scalar_one()
    newest = newest if isinstance(newest, datetime) else datetime.fromisoformat(str(newest))
    now = newest.replace(tzinfo=newest.tzinfo or __import__("datetime").UTC) + timedelta(minutes=30)
    return Ctx(now=now, topic_id=int(top[0]), other_topic_id=int(top[len(top) // 4]), alert_id=int(alert_id))


def filter_spread(engine: Engine, ctx: Ctx, keyword: str) -> list[tuple[str, str, q.QueryFilters]]:
    """(period, variant, filters) for every period x variant."""
    r = s.rollups
    picks = {
        "channel": {"channels": (most_common(engine, r.c.channel),)},
        "category": {"categories": (most_common(engine, r.c.category),)},
        "region": {"provinces": (most_common(engine, r.c.province),)},
        "sentiment": {"sentiments": ("negative",)},
        "keyword": {"keyword": keyword},
        "source": {"sources": (largest_source(engine),)},
    }
    out = []
    for period, hours in RANGES.items():
        start, end = q.last_hours(ctx.now, hours)
        base = q.QueryFilters(start=start, end=end)
        out.append((period, "all", base))
        out += [(period, name, replace(base, **kw)) for name, kw in picks.items()]  # type: ignore[arg-type]
    return out


# -- measuring ------------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def measure(
    engine: Engine, cases: list[Case], spread: list[tuple[str, str, q.QueryFilters]], ctx: Ctx, repeat: int
) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        case.run(engine, spread[0][2], ctx)  # warm-up (imports, statement cache)
        fast: list[float] = []
        per_variant: dict[tuple[str, str], float] = {}
        slowest = ("", "", 0.0)
        variants = [v for v in spread if case.filtered or v[1] == "all"]
        if case.topic_scoped:
            variants += [(p, "topic", f) for p, v, f in spread if v == "all"]
        for period, variant, f in variants:
            c = replace(ctx, topic_id=ctx.other_topic_id) if variant == "topic" else ctx
            for _ in range(repeat):
                ms = timed(lambda: case.run(engine, f, c))  # noqa: B023 - called at once
                fast.append(ms)
                per_variant[(period, variant)] = min(ms, per_variant.get((period, variant), ms))
                if ms > slowest[2]:
                    slowest = (period, variant, ms)
        naive_ms = ratio = None
        if case.naive is not None:
            f_year = next(f for period, variant, f in spread if period == "1y" and variant == "all")
            naive_ms = timed(lambda: case.naive(engine, f_year, ctx))  # type: ignore[misc]  # noqa: B023
            ratio = naive_ms / max(per_variant[("1y", "all")], 1e-3)
        rows.append({
            "case": case, "p50": percentile(fast, 50), "p95": percentile(fast, 95), "n": len(fast),
            "ratio": ratio, "naive_ms": naive_ms, "slowest": slowest,
        })  # fmt: skip
        print(f"  measured {case.page}: {case.name}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="var/bench.db")
    parser.add_argument("--keyword", default="小区", help="keyword of the keyword variant")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every query x filter")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    if not os.path.exists(args.db):
        raise SystemExit(f"{args.db} not found: run python -m bench.generate first")
    engine = make_engine(f"sqlite:///{args.db}")
    prepared = prepare_store(engine)
    with engine.connect() as conn:
        n_docs = conn.execute(select(func.count()).select_from(s.documents)).scalar_one()
    ctx = make_context(engine)
    spread = filter_spread(engine, ctx, args.keyword)
    cases = [c for c in build_cases() if args.only in c.name]
    print(f"{machine.describe()}; documents: {n_docs:,}; now: {ctx.now:%Y-%m-%d %H:%M} UTC")
    levels = lv.levels_timezone(engine)
    print(
        f"rollup levels: {f'built for {levels}' if levels else 'not in the schema: hourly rollups only'}"
        f" (store prepared in {prepared:.1f} s)"
    )
    print(f"spread: {len(RANGES)} periods x {len(spread) // len(RANGES)} filter variants", end="")
    print(
        f" (+ topic #{ctx.other_topic_id} for topic reads); topic #{ctx.topic_id}; keyword {args.keyword!r}"
    )
    rows = measure(engine, cases, spread, ctx, args.repeat)
    print(f"\n{'page':<11}{'query':<36}{'p50 ms':>8}{'p95 ms':>8}{'naive 1y':>10}{'x':>6}  slowest run")
    for r in rows:
        naive = f"{r['naive_ms']:.0f}" if r["naive_ms"] is not None else "-"
        ratio = f"{r['ratio']:.0f}" if r["ratio"] is not None else "-"
        p, v, ms = r["slowest"]
        flag = "  MISSES TARGET" if r["p95"] >= TARGET_MS else ""
        print(
            f"{r['case'].page:<11}{r['case'].name:<36}{r['p50']:>8.1f}{r['p95']:>8.1f}{naive:>10}{ratio:>6}"
            f"  {p} {v} {ms:.0f} ms{flag}"
        )
    for label, own in (("storage/queries.py reads", True), ("reads in other modules", False)):
        part = [r for r in rows if (r["case"].page not in OTHER_MODULES) == own]
        if part:
            w = max(part, key=lambda r: r["p95"])
            print(f"worst p95 of the {label}: {w['p95']:.0f} ms ({w['case'].page}: {w['case'].name})")
    worst = max(rows, key=lambda r: r["p95"])
    print(f"worst: {worst['case'].page}: {worst['case'].name}; target p95 < {TARGET_MS:.0f} ms")
    print(f"worst_p95_ms: {worst['p95']:.0f} ms")


if __name__ == "__main__":
    main()
