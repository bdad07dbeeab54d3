"""A character-bigram index over document titles and text, so a keyword filter reads matching documents only.

``LIKE '%词%'`` cannot use a B-tree index: a keyword filter over a year of documents reads every
one of them. This index holds every pair of adjacent characters of title and content (ASCII
letters folded to lower case, as ``LIKE`` folds them); a keyword of two or more characters can
only occur in a document holding all its pairs consecutively (an FTS5 phrase query). The
candidates are then checked with the same ``LIKE`` as before, so results are exactly those of a
scan, for any script (most Chinese keywords are two characters, which trigram indexes cannot
serve). One-character keywords scan.

SQLite: a contentless FTS5 table :data:`TABLE` (rowid = document id; tokens are the hex of each
pair's UTF-8 bytes, so no tokenizer splits or folds them). Documents are indexed in id order by
:func:`index_documents` (a scheduler job), which keeps the highest indexed id in ``app_state``;
documents above it are always candidates, so results never depend on the job being current.
Texts blanked by retention fail the ``LIKE`` check, so stale pairs are harmless.

PostgreSQL: a GIN expression index (:data:`PG_INDEX`, migration 5c1e2f0a9b31) on
``minsheng_bigrams(title || ' ' || content)``, the distinct lower-cased pairs as a ``text[]``;
a keyword's pairs must all be there (``@>``) before the ``ILIKE`` check. PostgreSQL keeps it
current itself, so no job is needed.
"""

from __future__ import annotations

import logging
import string
from typing import Any

from sqlalchemy import Engine, String, bindparam, column, func, literal_column, select, table, text, union_all

from storage import schema as s
from storage.db import is_sqlite, write_tx
from storage.state import get_state, set_state

log = logging.getLogger(__name__)
TABLE = "document_grams"
WATERMARK = "search.grams_max_id"
DDL = f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(title, content, content='', tokenize='ascii')"
_FOLD = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def grams(value: str | None) -> str:
    """The space-separated tokens of every adjacent character pair of ``value``."""
    folded = (value or "").translate(_FOLD)
    return " ".join(folded[i : i + 2].encode("utf-8").hex() for i in range(len(folded) - 1))


def phrase(keyword: str) -> str | None:
    """The FTS5 phrase query for ``keyword`` (None when it is shorter than two characters)."""
    tokens = grams(keyword)
    return f'"{tokens}"' if tokens else None


PG_INDEX = "ix_documents_bigrams"
#: The indexed expression, repeated verbatim so that the planner matches the index.
PG_EXPRESSION = "minsheng_bigrams(coalesce(documents.title, '') || ' ' || documents.content)"


def pg_index_exists(engine: Engine) -> bool:
    """Whether the PostgreSQL bigram index is there (False on SQLite)."""
    if is_sqlite(engine):
        return False
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = :n"), {"n": PG_INDEX}).first()
    return found is not None


def pg_candidates(keyword: str) -> Any:
    """PostgreSQL condition: the document holds every character pair of ``keyword`` (two or more
    characters), computed by the same SQL function as the index so case folding agrees."""
    if len(keyword) < 2:
        raise ValueError("keywords shorter than two characters cannot use the bigram index")
    pairs = func.minsheng_bigrams(bindparam("bigram_keyword", keyword, type_=String, unique=True))
    return literal_column(PG_EXPRESSION).op("@>")(pairs)


def index_exists(engine: Engine) -> bool:
    if not is_sqlite(engine):
        return False
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": TABLE}).first()
    return found is not None


def indexed_up_to(engine: Engine) -> int | None:
    """The highest document id indexed (None: no index on this database)."""
    if not index_exists(engine):
        return None
    return int(get_state(engine, WATERMARK) or 0)


def candidate_ids(keyword: str, up_to: int) -> Any:
    """A select of the ids of documents that may contain ``keyword`` (with ``up_to`` from :func:`indexed_up_to`)."""
    query = phrase(keyword)
    newer = select(s.documents.c.id).where(s.documents.c.id > up_to)
    if query is None:
        raise ValueError("keywords shorter than two characters cannot use the bigram index")
    grams_table = table(TABLE, column("rowid"))
    matched = select(grams_table.c.rowid.label("id")).where(literal_column(TABLE).op("MATCH")(query))
    return union_all(matched, newer)


def create_index(engine: Engine) -> None:
    """Create the (empty) index table on SQLite; the schema migration would run the same DDL."""
    if is_sqlite(engine):
        with write_tx(engine) as conn:
            conn.exec_driver_sql(DDL)


def index_documents(engine: Engine, batch: int = 5000, max_batches: int | None = None) -> int:
    """Index documents above the watermark, in id order, one transaction per batch; returns how many."""
    up_to = indexed_up_to(engine)
    if up_to is None:
        return 0
    d, done, batches = s.documents, 0, 0
    while max_batches is None or batches < max_batches:
        q = select(d.c.id, d.c.title, d.c.content).where(d.c.id > up_to).order_by(d.c.id).limit(batch)
        with engine.connect() as conn:
            rows = conn.execute(q).all()
        if not rows:
            break
        params = [{"id": r.id, "title": grams(r.title), "content": grams(r.content)} for r in rows]
        with write_tx(engine) as conn:
            conn.execute(
                text(f"INSERT INTO {TABLE}(rowid, title, content) VALUES (:id, :title, :content)"), params
            )
            set_state(conn, engine, WATERMARK, int(rows[-1].id))
        up_to, done, batches = int(rows[-1].id), done + len(rows), batches + 1
    if done:
        log.info("documents indexed for keyword search", extra={"documents": done, "up_to": up_to})
    return done


__all__ = ["candidate_ids", "create_index", "grams", "index_documents", "indexed_up_to", "phrase"]
