"""Documents near in meaning, by cosine similarity of the encoder tier's stored embeddings.

``encoder_tags.embedding`` holds each encoded document's L2-normalised e5 vector as 384 int8
bytes, written and read through ``kernel.vectors`` (storage imports no NLP code).
Searches are brute force over a time window, streamed from the database in chunks of
:data:`CHUNK_ROWS` rows, so memory stays bounded however large the window is (a chunk holds
about 2 KB a row: the row, its bytes and its float32 vector).

A document's exact copies (``documents.dup_of``) are never its neighbours, and a neighbour's own
copies are folded into it: one row per first copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, select

from kernel.vectors import unpack
from storage import schema as s

CHUNK_ROWS = 10_000  # about 25 MB a chunk
WINDOW_DAYS = 30  # neighbours are looked for this many days either side of the document
SNIPPET_CHARS = 120
#: Channels whose messages are cases (a citizen's 诉求), where restating one case is worth a hint.
CASE_CHANNELS = ("hotline", "gov")
#: Cosine at and above which two case messages are hinted as one 诉求 told twice. Chosen on TipDM
#: 问政 re-posts (``python -m bench.meaning_duplicates``: 594 messages, 176 k pairs, 211 of one case):
#: at 0.95 precision 0.972 against the re-post groups and recall 0.981 (0.975 for re-posts under
#: another title); the pairs counted wrong above 0.95 are other citizens' messages on the same
#: demand (生育津贴新政, 公务员招考户籍限制). At 0.94 precision falls to 0.905, at 0.93 to 0.700
#: (similar cases in other places: two villages' pig farms); at 0.96 it is 1.000, recall 0.967.
MEANING_DUPLICATE_THRESHOLD = 0.95


@dataclass(frozen=True)
class SimilarDocument:
    """One neighbour: the first copy's id, its text (plain, as stored: masked), where and when."""

    document_id: int
    title: str
    snippet: str
    channel: str
    published_at: datetime
    similarity: float


@dataclass(frozen=True)
class MeaningDuplicate:
    """The case message most like ``document_id`` in meaning, and how alike (cosine)."""

    document_id: int
    other_id: int
    similarity: float


def _root(doc_id: int, dup_of: int | None) -> int:
    return int(dup_of) if dup_of is not None else int(doc_id)


def _targets(conn: Connection, ids: Sequence[int]) -> list[Any]:
    """``(document_id, published_at, embedding, dup_of, channel)`` of those of ``ids`` that are encoded."""
    e, d = s.encoder_tags, s.documents
    q = (
        select(e.c.document_id, e.c.published_at, e.c.embedding, d.c.dup_of, e.c.channel)
        .select_from(e.join(d, d.c.id == e.c.document_id))
        .where(e.c.document_id.in_([int(i) for i in ids]))
        .order_by(e.c.document_id)
    )
    return list(conn.execute(q))


def _stream(
    conn: Connection,
    start: datetime,
    end: datetime,
    channels: Iterable[str] | None,
    chunk: int,
    with_time: bool = False,
) -> Iterable[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]]:
    """Encoded documents published in ``[start, end]``: chunks of (ids, roots, epoch seconds when
    ``with_time``, vectors)."""
    e, d = s.encoder_tags, s.documents
    when = [e.c.published_at] if with_time else []  # converting times costs a third of the read
    q = (
        select(e.c.document_id, d.c.dup_of, e.c.embedding, *when)
        .select_from(e.join(d, d.c.id == e.c.document_id))
        .where(e.c.published_at >= start, e.c.published_at <= end)
    )
    if channels is not None:
        q = q.where(e.c.channel.in_(list(channels)))
    result = conn.execution_options(yield_per=chunk).execute(q)
    for part in result.partitions(chunk):
        ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
        roots = np.fromiter((_root(r[0], r[1]) for r in part), dtype=np.int64, count=len(part))
        times = None
        if with_time:
            times = np.fromiter((r[3].timestamp() for r in part), dtype=np.float64, count=len(part))
        yield ids, roots, times, unpack([bytes(r[2]) for r in part])


def similar_documents(
    engine: Engine,
    document_id: int,
    k: int = 10,
    days: float = WINDOW_DAYS,
    channels: Sequence[str] | None = None,
    chunk: int = CHUNK_ROWS,
) -> list[SimilarDocument] | None:
    """The ``k`` encoded documents nearest in meaning to ``document_id``, most similar first.

    Looks at documents published within ``days`` of it (either side), optionally in ``channels``
    only; its own exact copies are left out and each neighbour's copies count once. ``None`` when
    the document has no embedding yet (the encoder tier has not reached it).
    """
    keep = max(4 * k, 50)  # candidates kept while streaming: room for copies folded afterwards
    with engine.connect() as conn:
        found = _targets(conn, [document_id])
        if not found:
            return None
        _, published, blob, dup_of, _ = found[0]
        target = unpack([bytes(blob)])[0]
        if not target.any():  # the encoder passed the document over (an all-zero embedding)
            return None
        own = _root(document_id, dup_of)
        when = published
        best_sim = np.zeros(0, dtype=np.float32)
        best_ids = np.zeros(0, dtype=np.int64)
        best_roots = np.zeros(0, dtype=np.int64)
        span = timedelta(days=days)
        for ids, roots, _, vectors in _stream(conn, when - span, when + span, channels, chunk):
            sims = vectors @ target
            mask = (roots != own) & vectors.any(axis=1)  # passed-over documents match nothing
            sims, ids, roots = sims[mask], ids[mask], roots[mask]
            best_sim = np.concatenate([best_sim, sims])
            best_ids = np.concatenate([best_ids, ids])
            best_roots = np.concatenate([best_roots, roots])
            if len(best_sim) > keep:
                top = np.argpartition(-best_sim, keep)[:keep]
                best_sim, best_ids, best_roots = best_sim[top], best_ids[top], best_roots[top]
        order = np.lexsort((best_ids, -best_sim))  # most similar first, ties by id
        picked: dict[int, float] = {}  # root -> similarity of its best copy
        for i in order:
            root = int(best_roots[i])
            if root not in picked:
                picked[root] = float(best_sim[i])
            if len(picked) == k:
                break
        rows = _document_rows(conn, list(picked))
    return [
        SimilarDocument(
            document_id=root,
            title=str(rows[root].title or ""),
            snippet=str(rows[root].snippet or ""),
            channel=str(rows[root].channel),
            published_at=rows[root].published_at,
            similarity=round(sim, 4),
        )
        for root, sim in picked.items()
        if root in rows
    ]


def _document_rows(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    d = s.documents
    if not ids:
        return {}
    q = select(
        d.c.id,
        d.c.title,
        func.substr(d.c.content, 1, SNIPPET_CHARS).label("snippet"),
        d.c.channel,
        d.c.published_at,
    ).where(d.c.id.in_([int(i) for i in ids]))
    return {int(r.id): r for r in conn.execute(q)}


def meaning_duplicates(
    engine: Engine,
    document_ids: int | Sequence[int],
    threshold: float = MEANING_DUPLICATE_THRESHOLD,
    days: float = WINDOW_DAYS,
    channels: Sequence[str] = CASE_CHANNELS,
    chunk: int = CHUNK_ROWS,
) -> dict[int, MeaningDuplicate]:
    """For each of ``document_ids`` in ``channels``, the other case message most like it in meaning,
    when their cosine is at least ``threshold`` and they were published within ``days`` of each other.

    Hints that a hotline / 问政 message restates a case told in other words (exact copies are
    ``documents.dup_of``'s business and are skipped). Documents without an embedding, or outside
    ``channels``, get no entry. One pass over the window for the whole batch.
    """
    ids = [document_ids] if isinstance(document_ids, int) else [int(i) for i in document_ids]
    if not ids:
        return {}
    with engine.connect() as conn:
        found = [r for r in _targets(conn, ids) if r[4] in channels]
        if not found:
            return {}
        target_ids = np.array([int(r[0]) for r in found], dtype=np.int64)
        target_roots = np.array([_root(r[0], r[3]) for r in found], dtype=np.int64)
        target_when = np.array([r[1].timestamp() for r in found], dtype=np.float64)
        targets = unpack([bytes(r[2]) for r in found])
        best_sim = np.full(len(found), -np.inf, dtype=np.float32)
        best_id = np.full(len(found), -1, dtype=np.int64)
        span = timedelta(days=days)
        start = datetime.fromtimestamp(float(target_when.min()), tz=UTC) - span
        end = datetime.fromtimestamp(float(target_when.max()), tz=UTC) + span
        for ids_c, roots_c, when_c, vectors in _stream(conn, start, end, channels, chunk, with_time=True):
            assert when_c is not None
            sims = vectors @ targets.T  # (chunk, targets)
            far = np.abs(when_c[:, None] - target_when[None, :]) > span.total_seconds()
            sims[far | (roots_c[:, None] == target_roots[None, :])] = -np.inf
            rows = sims.argmax(axis=0)
            top = sims[rows, np.arange(len(found))]
            better = (top > best_sim) | ((top == best_sim) & (ids_c[rows] < best_id))
            best_sim = np.where(better, top, best_sim)
            best_id = np.where(better, roots_c[rows], best_id)
    return {
        int(doc): MeaningDuplicate(int(doc), int(other), round(float(sim), 4))
        for doc, other, sim in zip(target_ids, best_id, best_sim, strict=True)
        if other >= 0 and sim >= threshold
    }


def stored_embeddings(engine: Engine, ids: Sequence[int], batch: int = 5000) -> dict[int, bytes]:
    """The stored (packed int8) embeddings of those of ``ids`` the encoder tier has encoded.

    Documents it passed over (an all-zero embedding) are left out, as if not encoded.
    """
    e = s.encoder_tags
    out: dict[int, bytes] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), batch):
            part = list(ids[start : start + batch])
            for doc_id, blob in conn.execute(
                select(e.c.document_id, e.c.embedding).where(e.c.document_id.in_(part))
            ):
                raw = bytes(blob)
                if raw.count(0) != len(raw):
                    out[int(doc_id)] = raw
    return out
