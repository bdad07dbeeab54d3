"""Topics over the whole store: BERTopic on sliding windows across the archive's full range.

The live refit (:mod:`nlp.topic_jobs`) fits only the window before the newest document, so an
imported archive has topics for its last days only. :func:`fit_history_topics` walks the archive
from its oldest first copy to its newest in steps (:func:`plan_windows`): each step *owns* the
documents published in it and is fitted on a window reaching ``window_days`` back (further back in
sparse years, so a window has enough documents to model). Each fit continues the previous one's
ids through :func:`nlp.topics.matching.match_topics`, the same matching the live refit uses, and the
overlapping windows share documents, so an issue that runs for months keeps one id and label.

Per step, in one transaction: the owned first copies (and their copies) get their topic, the
topics are upserted with the dates they were seen, ``topic_counts`` of the step is rewritten and
the progress is stored in ``app_state`` (:data:`PROGRESS_KEY`), with the model state saved under
``<data_dir>/topics/history``. A killed run continues with the next step. The last state becomes
the current one, so the live refit and the workers continue from where the history ends.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from kernel.settings import Settings
from nlp.pipeline import DocInput, doc_text
from storage import schema as s
from storage.db import dialect_insert, write_tx
from storage.state import get_state, set_state
from storage.types import utcnow

log = logging.getLogger(__name__)

PROGRESS_KEY = "topics.history"
MIN_STEP_DOCS = 150  # a step owns at least this many documents (sparse years: longer steps)
MIN_WINDOW_DOCS = 300  # a fit sees at least this many documents (reaching further back if needed)
HOUR = timedelta(hours=1)

ProgressHook = Callable[[int, int], None]  # (steps done, steps in all)


@dataclass(frozen=True)
class HistoryWindow:
    """One step of the history run: it owns ``[start, end)`` and is fitted on ``[fit_start, end)``."""

    fit_start: datetime
    start: datetime
    end: datetime


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def plan_windows(
    stamps: Sequence[datetime],
    window_days: float,
    step_days: float,
    min_step_docs: int = MIN_STEP_DOCS,
    min_window_docs: int = MIN_WINDOW_DOCS,
) -> list[HistoryWindow]:
    """Cut the sorted publication times ``stamps`` into owned steps with their fit windows.

    A step lasts ``step_days`` or until it holds ``min_step_docs`` documents, whichever is later;
    its fit window reaches ``window_days`` back from the step's end, or back to its
    ``min_window_docs``-th newest document when that is earlier. Boundaries fall on whole hours
    (the hourly ``topic_counts`` of a step are rewritten whole); steps without documents are skipped.
    """
    if not stamps:
        return []
    step = timedelta(days=step_days)
    window = timedelta(days=window_days)
    last_end = _floor_hour(stamps[-1]) + HOUR
    out: list[HistoryWindow] = []
    start = _floor_hour(stamps[0])
    while start < last_end:
        i = bisect_left(stamps, start)
        if i >= len(stamps):
            break
        start = max(start, _floor_hour(stamps[i]))  # skip empty stretches
        end = min(start + step, last_end)
        j = i + min_step_docs
        if bisect_left(stamps, end) < j:  # too few documents: extend to the min_step_docs-th
            end = last_end if j >= len(stamps) else max(end, _floor_hour(stamps[j - 1]) + HOUR)
        if len(stamps) - bisect_left(stamps, end) < min_step_docs // 3:
            end = last_end  # a tiny remainder joins this step
        n_before_end = bisect_left(stamps, end)
        fit_start = min(end - window, start)
        if n_before_end - bisect_left(stamps, fit_start) < min_window_docs:
            fit_start = _floor_hour(stamps[max(0, n_before_end - min_window_docs)])
        out.append(HistoryWindow(fit_start, start, end))
        start = end
    return out


def _first_copy_stamps(engine: Engine) -> list[datetime]:
    d, t = s.documents, s.doc_tags
    q = (
        select(t.c.published_at)
        .select_from(t.join(d, d.c.id == t.c.document_id))
        .where(d.c.dup_of.is_(None), d.c.archived.is_(False), t.c.published_at.is_not(None))
        .order_by(t.c.published_at)
    )
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(q)]


def _window_rows(engine: Engine, start: datetime, end: datetime) -> list[Any]:
    d, t = s.documents, s.doc_tags
    q = (
        select(d.c.id, d.c.title, d.c.content, t.c.published_at)
        .select_from(t.join(d, d.c.id == t.c.document_id))
        .where(t.c.published_at >= start, t.c.published_at < end)
        .where(d.c.dup_of.is_(None), d.c.archived.is_(False))
        .order_by(t.c.published_at, d.c.id)
    )
    with engine.connect() as conn:
        return list(conn.execute(q))


def _start_state(engine: Engine) -> Any:
    """An empty state whose id counter follows every id ever stored, so no id is reused."""
    from nlp.topics.state import OUTLIER_TOPIC, TopicModelState

    with engine.connect() as conn:
        top = conn.execute(select(s.topics.c.id).order_by(s.topics.c.id.desc()).limit(1)).scalar()
    return TopicModelState(
        None, {}, {OUTLIER_TOPIC: OUTLIER_TOPIC}, 0 if top is None else top + 1, [], [], [], []
    )


def _resume(engine: Engine, root: Any) -> tuple[Any, datetime | None]:
    """The state and the next step's start of an unfinished run (``(None, None)`` to start anew)."""
    from nlp.topics.state import TopicModelState

    progress = get_state(engine, PROGRESS_KEY)
    if not isinstance(progress, dict) or progress.get("status") != "running" or not progress.get("state"):
        return None, None
    try:
        state = TopicModelState.load(root / progress["state"])
    except Exception as exc:  # a state removed by hand: start again rather than fail
        log.warning("history topic state %s unreadable (%s): starting again", progress["state"], exc)
        return None, None
    return state, datetime.fromisoformat(progress["next"])


def fit_history_topics(
    engine: Engine,
    settings: Settings,
    *,
    step_days: float | None = None,
    min_step_docs: int = MIN_STEP_DOCS,
    min_window_docs: int = MIN_WINDOW_DOCS,
    on_window: ProgressHook | None = None,
) -> dict[str, Any]:
    """Give every first copy of the archive a topic, window by window; resumes an unfinished run.

    Args:
        engine: the store.
        settings: the app settings (``nlp.topics`` for the window, ``app.data_dir`` for states).
        step_days: how far each step moves (default: half of ``nlp.topics.window_days``).
        min_step_docs: documents a step owns at least (see :func:`plan_windows`).
        min_window_docs: documents a fit sees at least.
        on_window: called before the first step and after each with ``(done, total)``, for progress bars.

    Returns:
        counts for the job log: ``windows``, ``resumed_at`` (steps already done), ``documents``,
        ``assigned``, ``topics``.
    """
    from nlp.topics.fitting import TopicModeler
    from nlp.topics.state import config_from_settings, save_current_state, topic_state_root

    cfg = config_from_settings(settings)
    step = step_days if step_days is not None else max(1.0, cfg.window_days / 2)
    windows = plan_windows(_first_copy_stamps(engine), cfg.window_days, step, min_step_docs, min_window_docs)
    root = topic_state_root(settings)
    history_root = root / "history"
    state, next_start = _resume(engine, history_root)
    done = 0 if next_start is None else sum(1 for w in windows if w.end <= next_start)
    if state is None:
        state = _start_state(engine)
    totals = {"windows": len(windows), "resumed_at": done, "documents": 0, "assigned": 0}
    if on_window is not None:
        on_window(done, len(windows))
    for k in range(done, len(windows)):
        w = windows[k]
        rows = _window_rows(engine, w.fit_start, w.end)
        span = (w.end - w.fit_start).total_seconds() / 86400 + 1
        modeler = TopicModeler(replace(cfg, window_days=span), state=state)
        texts = [doc_text(DocInput(r.id, r.content, r.title)) for r in rows]
        state = modeler.fit(texts, [r.published_at for r in rows])
        path = save_current_state(state, history_root)
        n, assigned = _store_window(engine, state, modeler, rows, texts, w, path.name)
        totals["documents"] += n
        totals["assigned"] += assigned
        if on_window is not None:
            on_window(k + 1, len(windows))
    if windows:
        save_current_state(state, root)  # the live refit and the workers continue from here
        _mark_active(engine, set(state.topics))
    with write_tx(engine) as conn:
        set_state(conn, engine, PROGRESS_KEY, {"status": "done", "finished_at": utcnow().isoformat()})
    totals["topics"] = len(state.topics)
    log.info("history topics fitted", extra=totals)
    return totals


def _store_window(
    engine: Engine,
    state: Any,
    modeler: Any,
    rows: list[Any],
    texts: list[str],
    w: HistoryWindow,
    state_name: str,
) -> tuple[int, int]:
    """Store one step: its owned documents' topics, the topics seen, counts and the progress."""
    from collections import Counter

    from nlp.topics.state import OUTLIER_TOPIC, doc_key

    fitted = {k: (t, p) for k, t, p in zip(state.doc_keys, state.doc_topics, state.doc_probs, strict=True)}
    start, end = w.start, w.end
    owned = [(r, text) for r, text in zip(rows, texts, strict=True) if start <= r.published_at < end]
    missing = [text for r, text in owned if doc_key(text) not in fitted]
    extra = iter(modeler.transform(missing)) if missing else iter(())
    now = utcnow()
    assignments = []
    counts: Counter[tuple[int, datetime]] = Counter()
    seen: dict[int, tuple[datetime, datetime]] = {}
    for r, text in owned:
        topic, prob = fitted[doc_key(text)] if doc_key(text) in fitted else next(extra)
        tid = int(topic) if topic != OUTLIER_TOPIC else None
        assignments.append({"doc": r.id, "b_topic": tid, "b_score": float(prob), "b_at": now})
        if tid is not None:
            at = r.published_at
            counts[(tid, at.replace(minute=0, second=0, microsecond=0))] += 1
            first, last = seen.get(tid, (at, at))
            seen[tid] = (min(first, at), max(last, at))
    with write_tx(engine) as conn:
        existing = {
            r.id: (r.first_seen, r.last_seen)
            for r in conn.execute(select(s.topics.c.id, s.topics.c.first_seen, s.topics.c.last_seen))
        }
        for tid, (first, last) in seen.items():
            info = state.topics[tid]
            old = existing.get(tid)
            values = {
                "label": info.label[:200],
                "terms": [[t, round(float(v), 5)] for t, v in info.terms],
                "size": info.size,
                "first_seen": min(first, old[0]) if old else first,
                "last_seen": max(last, old[1]) if old and old[1] else last,
                "model_version": f"history-{state_name}",
                "active": False,
            }
            stmt = dialect_insert(engine, s.topics).values(id=tid, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
        if assignments:
            values_of: dict[str, Any] = {
                "topic_id": bindparam("b_topic"),
                "topic_score": bindparam("b_score"),
            }
            conn.execute(
                update(s.doc_tags)
                .where(s.doc_tags.c.document_id == bindparam("doc"))
                .values(**values_of, tagged_at=bindparam("b_at")),
                assignments,
            )
            copies = select(s.documents.c.id).where(s.documents.c.dup_of == bindparam("doc"))
            conn.execute(  # copies (reposts) share their first copy's topic
                update(s.doc_tags)
                .where(s.doc_tags.c.document_id.in_(copies.scalar_subquery()))
                .values(**values_of, tagged_at=bindparam("b_at")),
                assignments,
            )
        tc = s.topic_counts
        conn.execute(tc.delete().where(tc.c.bucket >= start, tc.c.bucket < end))
        if counts:
            conn.execute(
                tc.insert(), [{"topic_id": tid, "bucket": b, "n": n} for (tid, b), n in counts.items()]
            )
        progress = {"status": "running", "next": w.end.isoformat(), "state": state_name}
        set_state(conn, engine, PROGRESS_KEY, progress)
    return len(owned), sum(1 for a in assignments if a["b_topic"] is not None)


def _mark_active(engine: Engine, ids: set[int]) -> None:
    with write_tx(engine) as conn:
        conn.execute(update(s.topics).values(active=False))
        if ids:
            conn.execute(update(s.topics).where(s.topics.c.id.in_(sorted(ids))).values(active=True))
