"""The encoder tier's backlog, claimed in priority order by index seeks.

A document waits for the encoder tier when the fast tier has tagged it (a ``doc_tags`` row it did
not fail on) and the encoder has not run on it (``doc_tags.tier = 'fast'``: "pending") or ran with
another model version ("outdated": its ``encoder_tags.model_version`` differs). Claims go by class:

1. **priority**: documents of the priority channels (问政 / 12345 hotline and government);
2. **hot**: documents of the current hot topics within the heat period, and documents in the
   scope and window of an open alert (its dimension value since the condition began, its
   subject's documents, or the documents it names);
3. **rest**: everything else.

Newest first within each class. Pending documents come before outdated ones of the same class
(these already show encoder labels, of the previous version); outdated documents are ordered by id
and take part in classes 1 and 3 only.

Every query reads an index that holds only the backlog (the partial indexes on ``tier = 'fast'``,
or one old model version in ``encoder_tags``), so a claim costs the same in a store of 100 k or
10 M documents and finished documents are never scanned again. A claim first picks a few times
``limit`` candidates without locks, then (PostgreSQL) locks up to ``limit`` of them with
``FOR UPDATE OF documents SKIP LOCKED`` and re-reads their state: two workers never encode one
document, and one whose candidates are all held by others looks further down the same class
instead of dropping to the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Select,
    and_,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType

from storage import schema as s
from storage.db import is_sqlite

FAST, ENCODER, FAST_ONLY = "fast", "encoder", "fastonly"
CLASSES = ("priority", "hot", "rest")
#: How far back an open alert's window and the hot topics' documents reach.
HOT_PERIOD = timedelta(days=7)
#: Candidates read per claim, as a multiple of the batch: enough to pass over the batches other
#: workers hold locked (widened further when they are all held).
OVERFETCH = 4
MAX_OVERFETCH = 256
#: Alert dimensions whose scope is a ``doc_tags`` column value.
DIMENSION_COLUMNS = {"channel": "channel", "category": "category", "region": "province", "topic": "topic_id"}


@dataclass(frozen=True)
class AlertScope:
    """The documents an open alert is about: a dimension value (``total``: all), a subject's
    documents, or named documents, published since ``since``."""

    dimension: str  # total | channel | category | region | topic | subject | documents
    value: str | None
    since: datetime
    document_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Priority:
    """What the encoder tier takes first: channels (class 1), hot topics and alert scopes (class 2)."""

    channels: tuple[str, ...] = ()
    topic_ids: tuple[int, ...] = ()
    topics_since: datetime | None = None
    alerts: tuple[AlertScope, ...] = ()


@dataclass
class EncoderBacklog:
    """Documents waiting for the encoder tier, per priority class.

    ``outdated`` (part of the total) were encoded by another model version; it is only known when
    ``version`` (the encoder tier's current one) is.
    """

    total: int = 0
    priority: int = 0
    hot: int = 0
    rest: int = 0
    outdated: int = 0
    version: str | None = None


def _doc_columns() -> list[Any]:
    d = s.documents
    return [
        d.c.id, d.c.source_id, d.c.title, d.c.content, d.c.region_hint, d.c.channel, d.c.published_at,
        d.c.archived,
    ]  # fmt: skip


def pending_condition() -> Any:
    """``tier = 'fast'`` written as a literal, so both databases see it implies the partial indexes."""
    return s.doc_tags.c.tier == literal_column(f"'{FAST}'")


class _NotFailed(ColumnElement[Any]):
    """``model_versions`` has no ``failed`` key. PostgreSQL gets ``NOT (model_versions ? 'failed')``,
    which its planner estimates as nearly always true (for ``->> 'failed' IS NULL`` it guesses 0.5 %
    and then sorts a whole channel's backlog instead of walking its index to the LIMIT)."""

    inherit_cache = True
    type: Any = NullType()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any) -> None:
        self.column = column


@compiles(_NotFailed)
def _not_failed_json(element: _NotFailed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column["failed"].as_string().is_(None), **kw))


@compiles(_NotFailed, "postgresql")
def _not_failed_jsonb(element: _NotFailed, compiler: Any, **kw: Any) -> str:
    return f"NOT ({compiler.process(element.column, **kw)} ? 'failed')"


def not_failed() -> Any:
    """The fast tier's tag row is not a failure mark."""
    return _NotFailed(s.doc_tags.c.model_versions)


def _pinned(column: Any, value: Any) -> Any:
    """``column = value`` written as a closed range, with ``column`` leading the ORDER BY.

    PostgreSQL drops an ORDER BY column it knows is constant (``column = value``); its planner may
    then walk the all-channels backlog index and filter, expecting matches soon because it takes
    "pending" and "in this channel" to be independent. When the channel's backlog is done that
    walk reads the whole backlog. As a range, the column stays in the ORDER BY and only the index
    that leads with it returns rows in that order, so the walk stops at the LIMIT.
    """
    return and_(column >= value, column <= value)


@dataclass(frozen=True)
class _Part:
    """One candidate query of (id, at) rows and the order its index returns them in: the equality
    columns first, so that the planner walks that index (and stops at the LIMIT) even when it
    misjudges how many rows match, then newest first."""

    query: Select[Any]
    order: tuple[Any, ...]


def _pending(*conds: Any, lead: Any = None) -> _Part:
    t = s.doc_tags
    query = select(t.c.document_id.label("id"), t.c.published_at.label("at")).where(
        pending_condition(), not_failed(), *conds
    )
    order = ((lead.desc(),) if lead is not None else ()) + (t.c.published_at.desc(),)
    return _Part(query, order)


def _newest(parts: Sequence[_Part], k: int) -> Select[Any]:
    """The ``k`` newest of several (id, at) queries, each read in its own index's order."""
    if len(parts) == 1:
        return parts[0].query.order_by(*parts[0].order).limit(k)
    subs = [p.query.order_by(*p.order).limit(k).subquery(f"p{i}") for i, p in enumerate(parts)]
    merged = union_all(*[select(q.c.id, q.c.at) for q in subs]).subquery("merged")
    return select(merged.c.id, merged.c.at).order_by(merged.c.at.desc()).limit(k)


def _alert_part(scope: AlertScope) -> _Part | None:
    t = s.doc_tags
    if scope.dimension == "documents":
        return _pending(t.c.document_id.in_(list(scope.document_ids))) if scope.document_ids else None
    since = t.c.published_at >= scope.since
    if scope.dimension == "total":
        return _pending(since)
    if scope.dimension == "subject":
        sd, sj = s.subject_documents, s.subjects
        subject_id = select(sj.c.id).where(sj.c.name == scope.value).scalar_subquery()
        query = (
            select(t.c.document_id.label("id"), t.c.published_at.label("at"))
            .select_from(sd.join(t, t.c.document_id == sd.c.document_id))
            .where(sd.c.subject_id == subject_id, sd.c.published_at >= scope.since)
            .where(pending_condition(), not_failed())
        )
        return _Part(query, (sd.c.subject_id.desc(), sd.c.published_at.desc()))
    column = DIMENSION_COLUMNS.get(scope.dimension)
    if column is None or scope.value is None:
        return None
    value: Any = scope.value
    if column == "topic_id":
        try:
            value = int(value)
        except ValueError:
            return None
    # An alert's window bounds this read whichever index the planner takes.
    return _pending(t.c[column] == value, since)


def _hot_parts(priority: Priority) -> list[_Part]:
    t = s.doc_tags
    parts = []
    for topic in priority.topic_ids:
        conds = [_pinned(t.c.topic_id, int(topic))]
        if priority.topics_since is not None:
            conds.append(t.c.published_at >= priority.topics_since)
        parts.append(_pending(*conds, lead=t.c.topic_id))
    parts += [p for p in (_alert_part(a) for a in priority.alerts) if p is not None]
    return parts


def outdated_encoder_version(conn: Connection, version: str) -> str | None:
    """One encoder model version other than ``version`` that still has rows (two index seeks)."""
    mv = s.encoder_tags.c.model_version
    for cond, order in ((mv < version, mv.desc()), (mv > version, mv.asc())):
        found = conn.execute(select(mv).where(cond).order_by(order).limit(1)).scalar()
        if found is not None:
            return str(found)
    return None


def _outdated(old: str, *conds: Any, by_channel: bool = False) -> _Part:
    e, t = s.encoder_tags, s.doc_tags
    fast_ok = select(t.c.document_id).where(t.c.document_id == e.c.document_id, not_failed()).exists()
    query = select(e.c.document_id.label("id"), e.c.document_id.label("at")).where(
        e.c.model_version == old, fast_ok, *conds
    )
    lead = (e.c.model_version.desc(), e.c.channel.desc()) if by_channel else (e.c.model_version.desc(),)
    return _Part(query, (*lead, e.c.document_id.desc()))


@dataclass
class _Step:
    """One class of the claim order: a candidate query and how to confirm a locked row is still due."""

    name: str
    candidates: Callable[[int], Select[Any] | None]
    outdated: bool = False


def claim_steps(conn: Connection, version: str, priority: Priority | None) -> list[_Step]:
    """The claim order: pending then outdated priority channels, hot, pending then outdated rest."""
    p = priority or Priority()
    t, e = s.doc_tags, s.encoder_tags
    old_cache: list[str | None] = []

    def old() -> str | None:
        if not old_cache:
            old_cache.append(outdated_encoder_version(conn, version))
        return old_cache[0]

    def priority_pending(k: int) -> Select[Any] | None:
        parts = [_pending(_pinned(t.c.channel, c), lead=t.c.channel) for c in p.channels]
        return _newest(parts, k) if parts else None

    def priority_outdated(k: int) -> Select[Any] | None:
        o = old()
        parts = [_outdated(o, _pinned(e.c.channel, c), by_channel=True) for c in p.channels] if o else []
        return _newest(parts, k) if parts else None

    def hot(k: int) -> Select[Any] | None:
        parts = _hot_parts(p)
        return _newest(parts, k) if parts else None

    def rest_pending(k: int) -> Select[Any]:
        return _newest([_pending()], k)

    def rest_outdated(k: int) -> Select[Any] | None:
        o = old()
        return _newest([_outdated(o)], k) if o else None

    return [
        _Step("priority", priority_pending),
        _Step("priority", priority_outdated, outdated=True),
        _Step("hot", hot),
        _Step("rest", rest_pending),
        _Step("rest", rest_outdated, outdated=True),
    ]


def _still_due(conn: Connection, version: str, ids: list[int], outdated: bool) -> set[int]:
    """Of ``ids``, those still waiting (a fresh statement: sees what other workers committed)."""
    t, e = s.doc_tags, s.encoder_tags
    if outdated:
        q = (
            select(e.c.document_id)
            .join(t, t.c.document_id == e.c.document_id)
            .where(e.c.document_id.in_(ids), e.c.model_version != version, not_failed())
        )
    else:
        q = select(t.c.document_id).where(t.c.document_id.in_(ids), pending_condition(), not_failed())
    return set(conn.execute(q).scalars())


def still_due(conn: Connection, version: str, ids: Sequence[int]) -> set[int]:
    """Of ``ids``, the documents still waiting for encoder ``version`` (pending or outdated)."""
    ids = list(ids)
    if not ids:
        return set()
    return _still_due(conn, version, ids, False) | _still_due(conn, version, ids, True)


def _take(conn: Connection, engine: Engine, ids: list[int], limit: int, by_id: bool) -> list[Any]:
    """Up to ``limit`` of the candidate documents, in candidate order (PostgreSQL: the ones no other
    worker holds, locked)."""
    d = s.documents
    q = select(*_doc_columns()).where(d.c.id.in_(ids))
    if not is_sqlite(engine):
        # LIMIT applies after the rows other workers hold are skipped: the newest free ones.
        order = [d.c.id.desc()] if by_id else [d.c.published_at.desc(), d.c.id.desc()]
        q = q.order_by(*order).limit(limit).with_for_update(of=d, skip_locked=True)
    rank = {i: n for n, i in enumerate(ids)}
    return sorted(conn.execute(q).all(), key=lambda r: rank[r.id])[:limit]


@dataclass
class Claim:
    """Documents claimed for the encoder tier and the priority class they were claimed in."""

    rows: list[Any]
    klass: str | None = None

    def __bool__(self) -> bool:
        return bool(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def claim_encoder_backlog(
    conn: Connection,
    engine: Engine,
    version: str,
    limit: int,
    priority: Priority | None = None,
) -> Claim:
    """Select (and on PostgreSQL lock, skipping rows other workers hold) up to ``limit`` documents
    for the encoder tier, in priority order (see the module text). Each row has the document's
    ``id, source_id, title, content, region_hint, channel, published_at, archived``. Empty: nothing
    is waiting (or all of it is held by other workers)."""
    for step in claim_steps(conn, version, priority):
        k = limit * OVERFETCH
        for _ in range(64):  # each round either returns, stops the class, or sees other commits
            query = step.candidates(k)
            if query is None:
                break
            ids = list(dict.fromkeys(int(r.id) for r in conn.execute(query)))
            if not ids:
                break
            rows = _take(conn, engine, ids, limit, step.outdated)
            if rows:
                due = _still_due(conn, version, [r.id for r in rows], step.outdated)
                rows = [r for r in rows if r.id in due]
                if rows:
                    return Claim(rows, step.name)
                continue  # encoded by another worker between the two reads: look again
            if len(ids) < k or k >= limit * MAX_OVERFETCH:
                break  # the rest of this class is held by other workers
            k *= 4
    return Claim([])


def _count(conn: Connection, q: Select[Any]) -> int:
    return int(conn.execute(select(func.count()).select_from(q.subquery())).scalar_one())


def count_encoder_backlog(
    engine: Engine, version: str | None = None, priority: Priority | None = None
) -> EncoderBacklog:
    """Documents waiting for the encoder tier, in all and per priority class (index-only counts of
    the backlog indexes; the hot class reads the hot topics' and alerts' pending documents)."""
    p = priority or Priority()
    t, e = s.doc_tags, s.encoder_tags
    channels = list(p.channels)
    with engine.connect() as conn:
        total = _count(conn, select(t.c.document_id).where(pending_condition()))
        first = _count(conn, select(t.c.document_id).where(pending_condition(), t.c.channel.in_(channels)))
        hot = 0
        parts = _hot_parts(p)
        if parts:
            merged = union_all(*[p.query.where(t.c.channel.not_in(channels)) for p in parts]).subquery()
            hot = _count(conn, select(merged.c.id).distinct())
        outdated = outdated_first = 0
        if version is not None:
            mv = e.c.model_version
            other = or_(mv < version, mv > version)  # two index ranges, not a scan
            outdated = _count(conn, select(e.c.document_id).where(other))
            if channels:
                outdated_first = _count(
                    conn, select(e.c.document_id).where(and_(other, e.c.channel.in_(channels)))
                )
    all_due = total + outdated
    prio = first + outdated_first
    rest = max(all_due - prio - hot, 0)
    return EncoderBacklog(
        total=all_due,
        priority=prio,
        hot=hot,
        rest=rest,
        outdated=outdated,
        version=version,
    )


def open_alert_scopes(engine: Engine, now: datetime, period: timedelta = HOT_PERIOD) -> list[AlertScope]:
    """The document scope of every open (or acknowledged) alert, within ``period`` before ``now``.

    Read from what the alert stored: ``evidence.dimension`` / ``dimension_value`` and ``since``
    (when its condition began; else the alert's first_seen), a subject rule's ``subject_name``,
    or the ``document_ids`` it names (keyword rules). Alerts about no documents (a silent
    source, model drift) have none.
    """
    a = s.alerts
    q = select(a.c.evidence, a.c.first_seen).where(a.c.status.in_(["open", "acknowledged"]))
    floor = now - period
    out = []
    with engine.connect() as conn:
        for evidence, first_seen in conn.execute(q):
            ev = evidence if isinstance(evidence, dict) else {}
            since = first_seen
            try:
                if ev.get("since"):
                    since = datetime.fromisoformat(str(ev["since"]))
            except ValueError:
                pass
            since = max(since, floor)
            dimension = ev.get("dimension")
            value = ev.get("dimension_value")
            if dimension == "subject":
                name = ev.get("subject_name") or value
                if name:
                    out.append(AlertScope("subject", str(name), since))
            elif dimension == "total":
                out.append(AlertScope("total", None, since))
            elif dimension in DIMENSION_COLUMNS and value not in (None, "", "-1", "None"):
                out.append(AlertScope(str(dimension), str(value), since))
            elif ev.get("document_ids"):
                ids = tuple(int(i) for i in ev["document_ids"] if str(i).lstrip("-").isdigit())
                out.append(AlertScope("documents", None, since, ids))
    return out
