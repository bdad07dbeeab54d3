"""The topic refit job: BERTopic on a sliding window, stable ids, stored topics and counts.

Runs in the scheduler process. It fits on the newest first copies (reposts excluded) of the last
``nlp.topics.window_days`` (or, for historic imports, the days before the newest document),
continues the previous state's topic ids, saves the state for the NLP workers (which assign
new documents to its topics between refits), and in one transaction upserts ``topics``,
re-points the window's ``doc_tags.topic_id`` (re-stamping them so the rollups follow) and
rewrites ``topic_counts`` for the window. Between the scheduled refits, the ``topics.early`` job
refits a first window as soon as it holds tagged documents, and again as it grows
(:func:`early_refit_reason`), so that a system that has just started shows its hot topics within
minutes, not at the next scheduled refit.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, bindparam, delete, func, select, update

from kernel.settings import Settings
from nlp.pipeline import DocInput, doc_text
from storage import schema as s
from storage.db import dialect_insert, write_tx
from storage.similar import stored_embeddings
from storage.types import utcnow

log = logging.getLogger(__name__)
#: One refit at a time in a process: the scheduled and the early job share the saved state.
_REFIT_LOCK = threading.Lock()


def _window(conn: Any, days: float, columns: Sequence[Any]) -> Any:
    """A select of ``columns`` over the window's tagged first copies, or None when nothing is tagged."""
    d, t = s.documents, s.doc_tags
    newest = conn.execute(select(func.max(t.c.published_at))).scalar()
    if newest is None:
        return None
    end = max(newest, utcnow()) if newest > utcnow() - timedelta(days=days) else newest
    return (
        select(*columns)
        .select_from(t.join(d, d.c.id == t.c.document_id))
        .where(t.c.published_at > end - timedelta(days=days), t.c.published_at <= end)
        .where(d.c.dup_of.is_(None), d.c.archived.is_(False))
    )


def window_documents(engine: Any, days: float, limit: int) -> list[Any]:
    """The newest tagged first copies within ``days`` of now (or of the newest document)."""
    d, t = s.documents, s.doc_tags
    with engine.connect() as conn:
        q = _window(conn, days, [d.c.id, d.c.title, d.c.content, t.c.published_at])
        if q is None:
            return []
        return list(conn.execute(q.order_by(t.c.published_at.desc()).limit(limit)))


def window_size(engine: Any, days: float) -> int:
    """How many documents :func:`window_documents` would choose from."""
    with engine.connect() as conn:
        q = _window(conn, days, [func.count()])
        return 0 if q is None else int(conn.execute(q).scalar() or 0)


def window_embeddings(
    engine: Engine, settings: Settings, ids: list[int], texts: list[str]
) -> tuple[np.ndarray | None, str]:
    """The encoder embeddings to cluster the window in, or None (n-gram LSA), and which was used.

    Clusters found in the encoder's space matched the labels far better (bench/topics.py: NMI
    0.60 against 0.39 on THUCNews titles, 0.27 against 0.13 on TNEWS); new documents are still
    assigned in LSA space by the worker. ``auto`` waits until the encoder tier has reached
    ``encoder_coverage`` of the window and embeds the few documents it has not reached yet.
    """
    section = settings.nlp.topics
    if section.embedder == "lsa" or not ids:
        return None, "lsa"
    stored = stored_embeddings(engine, ids)
    coverage = len(stored) / len(ids)
    if section.embedder == "auto" and coverage < section.encoder_coverage:
        log.info("topics: %.0f%% of the window encoded (< %.0f%%): clustering in LSA space",
                 100 * coverage, 100 * section.encoder_coverage)  # fmt: skip
        return None, "lsa"
    from nlp.encoder import EncoderUnavailableError, shared_encoder, unpack

    missing = [i for i, doc_id in enumerate(ids) if doc_id not in stored]
    try:
        fresh = shared_encoder().embed([texts[i] for i in missing]) if missing else None
    except EncoderUnavailableError as exc:
        log.warning("topics: %s; clustering in LSA space", exc)
        return None, "lsa"
    vectors = np.zeros((len(ids), 384), dtype=np.float32)
    have = [i for i, doc_id in enumerate(ids) if doc_id in stored]
    if have:
        vectors[have] = unpack([stored[ids[i]] for i in have])
    if fresh is not None:
        vectors[missing] = fresh
    return vectors, "encoder"


def refit_topics(engine: Engine, settings: Settings) -> dict[str, Any]:
    """Refit the topic model and store its results; returns counts for the job log."""
    with _REFIT_LOCK:
        return _refit(engine, settings)


def early_refit_reason(engine: Engine, settings: Settings) -> str | None:
    """Why the topics should be refitted before their scheduled refit, or ``None``.

    The scheduled refit comes every few hours. A system that has just started, or has just taken
    its first documents, would show no hot topics until then, or topics of a half-tagged window:
    its first fits ran while the documents were still arriving. So while the current fit saw
    fewer than ``max_docs`` documents, a window that has since doubled, or filled ``max_docs``,
    is due now. A first window is due as soon as it holds a document. The doubling bounds the
    early refits to a handful, however slowly documents arrive; a window that stays smaller than
    ``max_docs`` is left to the schedule.
    """
    from nlp.topics.state import config_from_settings, fitted_documents, topic_state_root

    cfg = config_from_settings(settings)
    fitted = fitted_documents(topic_state_root(settings))
    if fitted is not None and fitted >= cfg.max_docs:
        return None
    now = min(window_size(engine, cfg.window_days), cfg.max_docs)
    if now == 0 or (fitted is not None and now < min(2 * fitted, cfg.max_docs)):
        return None
    if fitted is None:
        return f"no topics fitted yet, {now} documents in the window"
    return f"the last fit saw {fitted} documents, the window now holds {now}"


def refit_topics_early(engine: Engine, settings: Settings) -> dict[str, Any]:
    """Refit now if :func:`early_refit_reason` says so (the ``topics.early`` job); counts for the log."""
    with _REFIT_LOCK:  # a refit running now (scheduled or early) is waited for, then judged
        reason = early_refit_reason(engine, settings)
        if reason is None:
            return {"due": False}
        log.info("topics: refitting before the scheduled refit", extra={"reason": reason})
        return {"due": True, **_refit(engine, settings)}


def _refit(engine: Engine, settings: Settings) -> dict[str, Any]:
    from nlp.topics.fitting import TopicModeler
    from nlp.topics.state import (
        config_from_settings,
        load_current_state,
        save_current_state,
        topic_state_root,
    )

    cfg = config_from_settings(settings)
    rows = window_documents(engine, cfg.window_days, cfg.max_docs)
    if not rows:
        return {"documents": 0, "topics": 0}
    root = topic_state_root(settings)
    texts = [doc_text(DocInput(r.id, r.content, r.title)) for r in rows]
    stamps = [r.published_at for r in rows]
    embeddings, embedder = window_embeddings(engine, settings, [r.id for r in rows], texts)
    modeler = TopicModeler(cfg, state=load_current_state(root))
    state = modeler.fit(texts, stamps, embeddings=embeddings)
    path = save_current_state(state, root)
    kept = set(state.doc_keys)
    # _select_window may drop empty texts: align documents to the state's keys.
    from nlp.topics.state import doc_key

    by_key = {doc_key(text): row for text, row in zip(texts, rows, strict=True) if doc_key(text) in kept}
    now = utcnow()
    assignments = []
    counts: Counter[tuple[int, Any]] = Counter()
    for key, topic, prob in zip(state.doc_keys, state.doc_topics, state.doc_probs, strict=True):
        row = by_key.get(key)
        if row is None:
            continue
        tid = topic if topic >= 0 else None
        assignments.append({"doc": row.id, "b_topic": tid, "b_score": float(prob), "b_at": now})
        if tid is not None:
            counts[(tid, row.published_at.replace(minute=0, second=0, microsecond=0))] += 1
    start = min(stamps).replace(minute=0, second=0, microsecond=0)
    with write_tx(engine) as conn:
        existing = {r.id: r.first_seen for r in conn.execute(select(s.topics.c.id, s.topics.c.first_seen))}
        conn.execute(update(s.topics).values(active=False))
        for tid, info in state.topics.items():
            values = {
                "label": info.label[:200],
                "terms": [[w, round(float(v), 5)] for w, v in info.terms],
                "size": info.size,
                "last_seen": now,
                "model_version": path.name,
                "active": True,
            }
            stmt = dialect_insert(engine, s.topics).values(
                id=tid, first_seen=existing.get(tid, now), **values
            )
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
        if assignments:
            conn.execute(
                update(s.doc_tags)
                .where(s.doc_tags.c.document_id == bindparam("doc"))
                .values(
                    topic_id=bindparam("b_topic"),
                    topic_score=bindparam("b_score"),
                    tagged_at=bindparam("b_at"),
                ),
                assignments,
            )
        conn.execute(delete(s.topic_counts).where(s.topic_counts.c.bucket >= start))
        if counts:
            conn.execute(
                s.topic_counts.insert(),
                [{"topic_id": tid, "bucket": bucket, "n": n} for (tid, bucket), n in counts.items()],
            )
    log.info(
        "topics refitted", extra={"documents": len(rows), "topics": len(state.topics), "state": path.name}
    )
    return {
        "documents": len(rows),
        "topics": len(state.topics),
        "assigned": sum(1 for a in assignments if a["b_topic"] is not None),
        "embedder": embedder,
    }
