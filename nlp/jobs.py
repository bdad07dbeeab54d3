"""NLP jobs: tag the backlog incrementally and idempotently (what ``sensing process`` and ``sensing worker`` run).

A document is in the backlog when it has no tags or was tagged by another pipeline version,
so a model change re-tags old documents in the background, new documents first. On
PostgreSQL several workers share the backlog: each claims a batch with
``FOR UPDATE SKIP LOCKED`` and holds the lock until its tags are committed, so no document is
tagged twice. On SQLite one worker runs; the upsert makes any re-run harmless.

A batch the tagger fails on is split in halves until the failing documents are alone: the others
are tagged, and each failing one gets a tag row of this pipeline version with no tags and
``model_versions = {"failed": reason}`` (so it leaves the backlog) plus a dead letter of kind
``document`` (``sensing deadletter retry ID`` removes the mark and the worker tries it again).
When every document of a batch fails alone, the tagger is at fault, not the documents: nothing is
marked and the error ends the batch as before.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import JSON, Engine, select

from kernel.batches import isolate_failures
from nlp.pipeline import DocInput, Tagger
from storage import schema as s
from storage.backlog import BacklogCursor, claim_backlog
from storage.db import dialect_insert, is_sqlite, write_tx
from storage.dead_letters import DeadLetter, is_item_error, write_dead_letters
from storage.encodings import overlay_encoder_tags
from storage.types import utcnow

log = logging.getLogger(__name__)
TAG_COLUMNS = [c.name for c in s.doc_tags.columns]
#: Called in the tagging transaction with (connection, the claimed documents, the tag rows stored),
#: e.g. to match the newly tagged documents against subjects; its writes commit with the tags.
TaggedHook = Callable[[Any, Sequence[Any], Sequence[dict[str, Any]]], None]
#: One backlog cursor per engine for callers that do not keep their own.
_cursors: weakref.WeakKeyDictionary[Engine, BacklogCursor] = weakref.WeakKeyDictionary()


def build_tagger(settings: Any) -> Tagger:
    """Load every configured model (offline) into a :class:`Tagger`, ready (:func:`settle_tagger`)."""
    from nlp.classifiers import load_classifier
    from nlp.keywords import extract_keywords_batch
    from nlp.regions import tag_regions
    from nlp.topics.assign import load_topic_assigner

    nlp = settings.nlp
    tagger = Tagger(
        sentiment=load_classifier("sentiment", nlp.sentiment.backend, nlp.sentiment.path),
        emotion=load_classifier("emotion", nlp.emotion.backend, nlp.emotion.path),
        category=load_classifier("category", nlp.category.backend, nlp.category.path),
        regions=tag_regions,
        keywords=extract_keywords_batch,
        topics=load_topic_assigner(settings),
    )
    return settle_tagger(tagger)


def settle_tagger(tagger: Tagger) -> Tagger:
    """Build the tagger's lazy tables with one tiny batch, then freeze what the process holds.

    The models live as long as the process, so they are moved out of the garbage collector's
    sight (``gc.freeze``): its full passes over millions of vocabulary and dictionary objects
    took about 5 % of a worker's time.
    """
    tagger.tag([DocInput(0, "加载模型：北京市朝阳区")])  # jieba tables, n-gram indexes
    tagger.cpu_seconds.clear()
    gc.freeze()
    return tagger


def _upsert_tags(engine: Engine, conn: Any, rows: Sequence[dict[str, Any]]) -> None:
    if not is_sqlite(engine):
        _upsert_tags_copy(conn, rows)
        return
    stmt = dialect_insert(engine, s.doc_tags)
    update_cols = {c: stmt.excluded[c] for c in TAG_COLUMNS if c != "document_id"}
    conn.execute(stmt.on_conflict_do_update(index_elements=["document_id"], set_=update_cols), list(rows))


_STAGING = "doc_tags_staging"


@functools.cache
def _staged_upsert_sql() -> tuple[str, str, str]:
    """PostgreSQL: the staging table, its COPY and the upsert from it into ``doc_tags``."""
    names = ", ".join(TAG_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in TAG_COLUMNS if c != "document_id")
    return (
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (LIKE doc_tags) ON COMMIT DELETE ROWS",
        f"COPY {_STAGING} ({names}) FROM STDIN",
        f"INSERT INTO doc_tags ({names}) SELECT {names} FROM {_STAGING} "
        f"ON CONFLICT (document_id) DO UPDATE SET {updates}",
    )


def _upsert_tags_copy(conn: Any, rows: Sequence[dict[str, Any]]) -> None:
    # COPY into a session-private staging table, then one upsert: psycopg's executemany sent a
    # statement per row, which cost the worker about a fifth of its time. Values go through each
    # column type's own bind processing (aware -> naive UTC timestamps); JSON is sent as text.
    dialect = conn.dialect
    binds = []
    for col in s.doc_tags.columns:
        impl = col.type.dialect_impl(dialect)
        binds.append(_json_text if isinstance(impl, JSON) else impl.bind_processor(dialect))
    create, copy_sql, upsert = _staged_upsert_sql()
    driver = conn.connection.driver_connection  # the psycopg connection of this transaction
    with driver.cursor() as cur:
        cur.execute(create)
        with cur.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(
                    [row[c] if b is None else b(row[c]) for c, b in zip(TAG_COLUMNS, binds, strict=True)]
                )
        cur.execute(upsert)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _tag_isolating(
    tagger: Tagger, docs: Sequence[Any]
) -> tuple[list[dict[str, Any]], list[tuple[Any, Exception]]]:
    """Tag ``docs``; when the tagger raises, split them until each failing document is alone.

    Returns (tag rows of the documents tagged, (document, error) of those that failed).
    """

    def tag(part: Sequence[Any]) -> list[dict[str, Any]]:
        return tagger.tag([DocInput(r.id, r.content, r.title, r.region_hint) for r in part])

    def warn(n: int, exc: Exception) -> None:
        log.warning("tagging %d documents failed (%s): isolating the bad ones", n, exc)

    return isolate_failures(docs, tag, on_split=warn)


def _store_isolating(
    engine: Engine, conn: Any, rows: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], Exception]]:
    """Upsert ``rows`` in a savepoint; when the database refuses a value, split them until each
    refused row is alone. Returns the refused rows with their errors (the rest are stored)."""

    def upsert(part: Sequence[dict[str, Any]]) -> list[None]:
        with conn.begin_nested():
            _upsert_tags(engine, conn, part)
        return []

    return isolate_failures(rows, upsert, is_item_error)[1]


def _mark_failed(conn: Any, version: str, failed: Sequence[tuple[Any, Exception]]) -> list[dict[str, Any]]:
    """Tag rows that take failed documents out of the backlog, and their dead letters."""
    rows = []
    ids = [doc.id for doc, _ in failed]
    sources = dict(
        conn.execute(select(s.documents.c.id, s.documents.c.source_id).where(s.documents.c.id.in_(ids))).all()
    )
    by_source: dict[int, list[DeadLetter]] = {}
    for doc, exc in failed:
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        reason = f"{type(exc).__name__}: {message}"
        rows.append(
            {"document_id": doc.id, "pipeline_version": version, "model_versions": {"failed": reason}}
        )
        dead = DeadLetter(
            f"document {doc.id}", type(exc).__name__, message, kind="document", document_id=doc.id
        )
        by_source.setdefault(int(sources[doc.id]), []).append(dead)
        log.warning("document %s could not be tagged: %s", doc.id, reason)
    for source_id, entries in by_source.items():
        write_dead_letters(conn, source_id, entries)
    return rows


def tag_batch(
    engine: Engine,
    tagger: Tagger,
    batch_size: int,
    cursor: BacklogCursor | None = None,
    on_tagged: TaggedHook | None = None,
) -> int:
    """Claim, tag and store one batch; returns how many documents were tagged.

    0 means the backlog is empty; -1 (PostgreSQL only) that the claimed rows had just been tagged
    by another worker, so the caller should simply try again. ``cursor`` is this process's place
    in the backlog (one per engine is kept when none is given). ``on_tagged`` (see
    :data:`TaggedHook`) sees the documents tagged, before the transaction commits.
    """
    version = tagger.version
    if cursor is None:
        cursor = _cursors.setdefault(engine, BacklogCursor())
    with write_tx(engine) as conn:
        docs = claim_backlog(conn, engine, version, batch_size, cursor)
        if not docs:
            return 0
        if not is_sqlite(engine):
            # The claim's snapshot may predate another worker's commit of these very rows (their
            # lock was released after our scan began); with the locks held, a fresh statement sees it.
            done = set(
                conn.execute(
                    select(s.doc_tags.c.document_id).where(
                        s.doc_tags.c.document_id.in_([r.id for r in docs]),
                        s.doc_tags.c.pipeline_version == version,
                    )
                ).scalars()
            )
            docs = [r for r in docs if r.id not in done]
            if not docs:
                return -1  # claimed only rows tagged meanwhile: not an empty backlog
        rows, failed = _tag_isolating(tagger, docs)
        if failed and len(failed) == len(docs) > 1:  # the tagger is broken, not the documents
            raise failed[0][1]
        now = utcnow()
        meta = {r.id: r for r in docs}

        def complete(tag_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            for row in tag_rows:
                doc = meta[row["document_id"]]
                row.update(published_at=doc.published_at, channel=doc.channel, tagged_at=now)
                for col in TAG_COLUMNS:
                    row.setdefault(col, None)
            overlay_encoder_tags(conn, tag_rows)
            return tag_rows

        refused = _store_isolating(engine, conn, complete(rows))
        failed += [(meta[row["document_id"]], exc) for row, exc in refused]
        if failed:
            _upsert_tags(engine, conn, complete(_mark_failed(conn, version, failed)))
        if on_tagged is not None:
            bad = {doc.id for doc, _ in failed}
            on_tagged(conn, docs, [r for r in rows if r["document_id"] not in bad])
    return len(rows) - len(refused)


def tag_backlog(
    engine: Engine,
    tagger: Tagger,
    batch_size: int = 500,
    max_docs: int | None = None,
    on_tagged: TaggedHook | None = None,
) -> int:
    """Tag until the backlog is empty (or ``max_docs`` reached); returns documents tagged."""
    done = 0
    while max_docs is None or done < max_docs:
        size = batch_size if max_docs is None else min(batch_size, max_docs - done)
        n = tag_batch(engine, tagger, size, on_tagged=on_tagged)
        if n == 0:
            break
        done += max(n, 0)
    return done
