"""Reads that must stay cheap in a large store: SQLite's query plans start from the small table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, text

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


def executed_plans(engine: Engine, read: Callable[[], object]) -> list[list[str]]:
    """The query plan of every SELECT that ``read`` runs."""
    seen: list[tuple[str, Any]] = []

    def grab(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "sqlite_master" not in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        read()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    with engine.connect() as conn:
        return [
            [str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
            for sql, params in seen
        ]


def test_a_keyword_leads_a_topic_read(tmp_path: Path) -> None:
    """With the keyword index, a topic read starts from the keyword's candidates, not from the topic's
    documents: SQLite has no statistics to tell a rare keyword from a big topic (one year, the biggest
    topic at 1 M documents: 320-580 ms against 13 ms)."""
    from storage import queries as q
    from storage import search_index

    engine = make_engine(f"sqlite:///{tmp_path}/plan.db")
    upgrade_database(engine)
    search_index.create_index(engine)
    search_index.index_documents(engine)
    f = QueryFilters(start=datetime(2025, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 1, tzinfo=UTC))
    reads = {
        "emotion_mix": lambda f: q.emotion_mix(engine, f, 7),
        "document_count": lambda f: q.document_count(engine, f, topic_id=7),
        "search_documents": lambda f: q.search_documents(engine, f, topic_id=7),
    }
    for name, read in reads.items():  # (both read the documents)
        for keyword, leads in (("小区", True), ("", False)):
            g = replace(f, keyword=keyword, sources=("weibo",), from_documents=True)
            plans = [p for p in executed_plans(engine, partial(read, g)) if p]
            topic_index = any("ix_doc_tags_topic_published_at" in step for p in plans for step in p)
            assert topic_index is not leads, (name, keyword, plans)
            if leads:
                assert any("document_grams VIRTUAL TABLE" in step for p in plans for step in p), plans
    engine.dispose()
