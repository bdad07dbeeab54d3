"""The encoder tier's storage: embeddings and encoder-tier tags (``encoder_tags``), and the best tag.

A document's sentiment, emotion and category in ``doc_tags`` are the best available: the encoder
tier's once it has run (``doc_tags.tier = "encoder"``), the fast tier's until then (``"fast"``),
or for good when the encoder tier passed the document over (``"fastonly"``). The fast tier
re-tags documents when its models change; :func:`overlay_encoder_tags` keeps the encoder tier's
labels on such rows.

:func:`store_encodings` writes a batch of encoder results: the ``encoder_tags`` rows and the same
labels on ``doc_tags`` with ``tagged_at`` bumped, in the caller's transaction, so the next rollup
refresh rebuilds the hours whose labels changed. Embeddings arrive packed (``nlp.encoder.pack``):
this layer stores bytes and knows nothing of the model. The backlog itself (what to encode next)
is in :mod:`storage.encoder_backlog`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, update

from storage import schema as s
from storage.db import dialect_insert, write_tx
from storage.dead_letters import DeadLetter, write_dead_letters
from storage.encoder_backlog import ENCODER, FAST, FAST_ONLY, not_failed
from storage.state import get_state, set_state
from storage.types import utcnow

#: The columns the encoder tier decides (the rest of a tag row stays the fast tier's).
TIER_COLUMNS = tuple(c.name for c in s.label_columns())
#: Width of a packed embedding (int8 x 384): a passed-over document stores zeros, similar to nothing.
EMBEDDING_BYTES = 384
EMPTY_EMBEDDING = bytes(EMBEDDING_BYTES)
#: Dead letters of documents the encoder tier failed on (``sensing deadletter retry`` re-opens them).
DEAD_LETTER_KIND = "encoding"
#: ``app_state`` key where encoder workers say which version they run (or why they cannot).
STATE_KEY = "encoder.worker"


def overlay_encoder_tags(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Set ``tier`` on fast-tier tag rows, replacing their labels by the encoder tier's where it has run.

    A failed fast-tier row and a document the encoder tier passed over (its row holds no labels)
    get ``fastonly``: the encoder does not wait for them.
    """
    ids = [r["document_id"] for r in rows if "failed" not in (r.get("model_versions") or {})]
    e = s.encoder_tags
    found = {}
    if ids:
        cols = [e.c.document_id, *(e.c[c] for c in TIER_COLUMNS)]
        found = {row.document_id: row for row in conn.execute(select(*cols).where(e.c.document_id.in_(ids)))}
    for row in rows:
        if "failed" in (row.get("model_versions") or {}):
            row["tier"] = FAST_ONLY
            continue
        enc = found.get(row["document_id"])
        if enc is None:
            row["tier"] = FAST
            continue
        if enc.sentiment is None and enc.emotion is None and enc.category is None:
            row["tier"] = FAST_ONLY
            continue
        for label in ("sentiment", "emotion", "category"):
            if getattr(enc, label) is not None:  # a task without a stacked head keeps the fast label
                row[label], row[f"{label}_score"] = getattr(enc, label), getattr(enc, f"{label}_score")
        row["tier"] = ENCODER


def _upsert_encoder_rows(engine: Engine, conn: Connection, rows: list[dict[str, Any]]) -> None:
    stmt = dialect_insert(engine, s.encoder_tags)
    updates = {c.name: stmt.excluded[c.name] for c in s.encoder_tags.columns if c.name != "document_id"}
    conn.execute(stmt.on_conflict_do_update(index_elements=["document_id"], set_=updates), rows)


def store_encodings(
    engine: Engine,
    conn: Connection,
    docs: Mapping[int, Any],
    results: Sequence[Mapping[str, Any]],
    version: str,
    now: datetime | None = None,
) -> None:
    """Store encoder results in the caller's transaction.

    ``docs``: the claimed documents by id (their ``published_at`` and ``channel`` are copied);
    ``results``: one mapping per document with ``document_id``, ``embedding`` (packed bytes) and
    the :data:`TIER_COLUMNS`. Upserts ``encoder_tags`` and copies the labels onto the document's
    ``doc_tags`` row (``tier = "encoder"``, ``tagged_at = now``) unless the fast tier failed on it.
    """
    if not results:
        return
    now = now or utcnow()
    rows = []
    for r in results:
        doc = docs[r["document_id"]]
        row = {
            "document_id": r["document_id"],
            "published_at": doc.published_at,
            "channel": doc.channel,
            "embedding": bytes(r["embedding"]),
            "model_version": version,
            "encoded_at": now,
        }
        row.update({c: r.get(c) for c in TIER_COLUMNS})
        rows.append(row)
    _upsert_encoder_rows(engine, conn, rows)
    t = s.doc_tags
    stmt = (
        update(t)
        .where(t.c.document_id == bindparam("b_id"), not_failed())
        .values(
            {
                # A task without a stacked head (no label in the result) keeps the fast tier's.
                **{c: func.coalesce(bindparam(f"b_{c}", type_=t.c[c].type), t.c[c]) for c in TIER_COLUMNS},
                "tier": ENCODER,
                "tagged_at": bindparam("b_at"),
            }
        )
    )
    params = [
        {"b_id": r["document_id"], "b_at": now, **{f"b_{c}": r.get(c) for c in TIER_COLUMNS}} for r in rows
    ]
    conn.execute(stmt, params)


def pass_over(
    engine: Engine,
    conn: Connection,
    docs: Mapping[int, Any],
    ids: Sequence[int],
    version: str,
    now: datetime | None = None,
) -> None:
    """Take documents out of the backlog of ``version`` without encoder labels (their text was
    archived, or the encoder failed on them alone): an ``encoder_tags`` row with no labels and a
    zero embedding, and ``tier = "fastonly"`` where the fast tier's labels are shown. A later
    encoder version tries them again."""
    if not ids:
        return
    now = now or utcnow()
    rows = []
    for i in ids:
        doc = docs[i]
        row = {
            "document_id": i,
            "published_at": doc.published_at,
            "channel": doc.channel,
            "embedding": EMPTY_EMBEDDING,
            "model_version": version,
            "encoded_at": now,
        }
        row.update(dict.fromkeys(TIER_COLUMNS))
        rows.append(row)
    _upsert_encoder_rows(engine, conn, rows)
    t = s.doc_tags
    conn.execute(update(t).where(t.c.document_id.in_(list(ids)), t.c.tier == FAST).values(tier=FAST_ONLY))


def record_encoding_failures(
    engine: Engine,
    conn: Connection,
    docs: Mapping[int, Any],
    failed: Sequence[tuple[int, str, str]],
    version: str,
    now: datetime | None = None,
) -> None:
    """Documents the encoder failed on alone, as (id, error class, message): passed over (see
    :func:`pass_over`) with a dead letter of kind :data:`DEAD_LETTER_KIND` each."""
    if not failed:
        return
    pass_over(engine, conn, docs, [i for i, _, _ in failed], version, now)
    by_source: dict[int, list[DeadLetter]] = {}
    for doc_id, error_class, message in failed:
        dead = DeadLetter(
            f"encoding {doc_id}", error_class, message, kind=DEAD_LETTER_KIND, document_id=doc_id
        )
        by_source.setdefault(int(docs[doc_id].source_id), []).append(dead)
    for source_id, entries in by_source.items():
        write_dead_letters(conn, source_id, entries)


def reopen_encoding(engine: Engine, document_id: int) -> None:
    """Put a document the encoder tier failed on back in its backlog (``sensing deadletter retry``)."""
    e, t = s.encoder_tags, s.doc_tags
    with write_tx(engine) as conn:
        conn.execute(delete(e).where(e.c.document_id == document_id, e.c.sentiment.is_(None)))
        conn.execute(
            update(t)
            .where(t.c.document_id == document_id, t.c.tier == FAST_ONLY, not_failed())
            .values(tier=FAST)
        )


def record_encoder_state(engine: Engine, version: str | None, problem: str | None = None) -> None:
    """What the encoder workers run: ``version``, or the ``problem`` that keeps them idle."""
    value = {"version": version, "problem": problem, "seen_at": utcnow().isoformat()}
    with write_tx(engine) as conn:
        set_state(conn, engine, STATE_KEY, value)


def encoder_state(engine: Engine) -> dict[str, Any]:
    """The last :func:`record_encoder_state` (empty when no encoder worker ever started)."""
    value = get_state(engine, STATE_KEY)
    return dict(value) if isinstance(value, dict) else {}


def encoder_status(engine: Engine, priority: Any = None) -> dict[str, Any]:
    """The encoder tier for ``sensing status`` and 数据源健康: the version its workers run (or the
    problem keeping them idle, and when one was last seen) and its backlog per priority class
    (``priority`` a :class:`storage.encoder_backlog.Priority`)."""
    from storage.encoder_backlog import count_encoder_backlog

    state = encoder_state(engine)
    backlog = count_encoder_backlog(engine, state.get("version"), priority)
    return {
        "version": state.get("version"),
        "problem": state.get("problem"),
        "seen_at": state.get("seen_at"),
        "total": backlog.total,
        "priority": backlog.priority,
        "hot": backlog.hot,
        "rest": backlog.rest,
        "outdated": backlog.outdated,
    }
