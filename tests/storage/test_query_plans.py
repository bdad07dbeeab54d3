"""Reads that must stay cheap in a large store: SQLite's query plans start from the small table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from storage import reply_queries
from storage.db import make_engine
from storage.migrate import upgrade_database
from storage.queries import QueryFilters


def plan_of(engine: Engine, stmt: object) -> list[str]:
    sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return [str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql))]


def test_replies_are_read_from_reply_scores_first(tmp_path: Path) -> None:
    """A year of replies must not walk a year of documents (4.6 s at 1 M documents before)."""
    engine = make_engine(f"sqlite:///{tmp_path}/plan.db")
    upgrade_database(engine)
    f = QueryFilters(start=datetime(2025, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC))
    for stmt in (reply_queries._reply_select(engine, f), reply_queries._reply_select(engine, f).limit(20)):
        plan = plan_of(engine, stmt)
        assert plan[0].startswith("SEARCH reply_scores USING INDEX ix_reply_scores_published_at"), plan
        assert not any(p.startswith("SCAN") for p in plan), plan
    engine.dispose()


def test_review_queue_walks_the_score_index(tmp_path: Path) -> None:
    """Least-sure first without sorting every first copy (0.68 s at 1 M unique documents before)."""
    from storage.corrections import review_queue_query

    engine = make_engine(f"sqlite:///{tmp_path}/plan.db")
    upgrade_database(engine)
    for field in ("category", "sentiment", "emotion"):
        plan = plan_of(engine, review_queue_query(engine, 50, field))
        assert plan[0].startswith(f"SEARCH doc_tags USING INDEX ix_doc_tags_{field}_score"), plan
        assert not any("TEMP B-TREE" in p for p in plan), plan
    engine.dispose()
