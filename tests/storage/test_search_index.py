"""The bigram keyword index: the same documents as a LIKE scan, whatever the index holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from storage import queries as q
from storage import schema as s
from storage import search_index as si
from storage.db import write_tx

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
TEXTS = [
    ("小区电梯故障", "12号楼电梯又坏了，老人上下楼困难"),
    (None, "小区门口路灯不亮"),
    ("Elevator", "iPhone 充电桩 50%_off 电 梯"),
    ("噪音", "夜间施工噪音扰民，电梯间也很吵"),
    (None, "ELEVATOR broken again"),
    (None, "电"),
]
KEYWORDS = [
    "电梯",
    "小区电梯",
    "elevator",
    "IPHONE",
    "50%_",
    "电 梯",
    "梯故",
    "电",
    "不存在的词",
    "%",
    "故障，",
]


def add_documents(engine: Engine, texts: list[tuple[str | None, str]], offset: int = 0) -> None:
    with write_tx(engine) as conn:
        if conn.execute(select(s.sources.c.id)).first() is None:
            conn.execute(
                insert(s.sources).values(
                    id=1, name="src", kind="demo", channel="social", cursor={}, created_at=NOW, updated_at=NOW
                )
            )
        for i, (title, content) in enumerate(texts, start=offset):
            conn.execute(
                insert(s.documents).values(
                    source_id=1, channel="social", external_id=f"e{i}", title=title, content=content,
                    published_at=NOW - timedelta(hours=i + 1), fetched_at=NOW, content_hash=f"h{i}",
                )
            )  # fmt: skip


def expected(keyword: str, rows: list[tuple[str | None, str]]) -> int:
    fold = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
    kw = keyword.translate(fold)
    return sum(
        kw in (title or "").translate(fold) or kw in content.translate(fold) for title, content in rows
    )


def counts(engine: Engine) -> dict[str, int]:
    f = q.QueryFilters(start=NOW - timedelta(days=30), end=NOW)
    return {kw: q.document_count(engine, f, kw) for kw in KEYWORDS}


def test_grams_fold_ascii_only_and_short_keywords_scan() -> None:
    assert si.grams("AB") == si.grams("ab") == "6162"
    assert si.grams("ÄB") != si.grams("äb")  # LIKE folds ASCII letters only
    assert si.phrase("小区") == f'"{"小区".encode().hex()}"' and si.phrase("电") is None


def test_keyword_index_finds_what_a_scan_finds(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    add_documents(engine, TEXTS)
    scan = counts(engine)
    assert scan == {kw: expected(kw, TEXTS) for kw in KEYWORDS} and scan["电梯"] == 2
    si.create_index(engine)
    assert si.indexed_up_to(engine) == 0 and counts(engine) == scan  # nothing indexed yet: all are candidates
    assert si.index_documents(engine, batch=2) == len(TEXTS) and si.indexed_up_to(engine) == len(TEXTS)
    assert counts(engine) == scan
    more = [("新电梯", "elevator 已修好"), (None, "电梯")]
    add_documents(engine, more, offset=len(TEXTS))  # above the watermark: still found
    assert counts(engine) == {kw: expected(kw, TEXTS + more) for kw in KEYWORDS}
    with write_tx(engine) as conn:  # retention blanked a text: its stale pairs must not match
        conn.execute(update(s.documents).where(s.documents.c.id == 1).values(content="", archived=True))
    rows = [("小区电梯故障", ""), *TEXTS[1:], *more]
    assert counts(engine) == {kw: expected(kw, rows) for kw in KEYWORDS}
    f = q.QueryFilters(start=NOW - timedelta(days=30), end=NOW, keyword="电梯")
    assert q.total(engine, f)["n"] == 0  # untagged documents are not in the rollup-shaped reads
    assert sorted(q.search_documents(engine, f, page_size=10)["id"]) == [1, 4, 7, 8]


def test_postgresql_bigram_index_serves_keywords(engine: Engine) -> None:
    """On PostgreSQL the migration's GIN index finds exactly what a scan finds, and is used."""
    add_documents(engine, TEXTS)
    if engine.dialect.name == "sqlite":
        assert not si.pg_index_exists(engine)  # SQLite has its own FTS5 table instead
        return
    assert si.pg_index_exists(engine)
    assert counts(engine) == {kw: expected(kw, TEXTS) for kw in KEYWORDS}
    from storage.filters import keyword_condition

    stmt = select(s.documents.c.id).where(keyword_condition(engine, "电梯"))
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: make the planner show its hand
        sql = str(stmt.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
    assert "Bitmap Index Scan on ix_documents_bigrams" in plan, plan
