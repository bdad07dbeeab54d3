"""Subjects (专题): their definitions (create, edit, archive, list; audited) and matched documents.

The expression is parsed by the caller (``analytics.subjects.compile_subject``) before it is
stored: this layer keeps the text. Matches are recorded two ways, both through
:func:`record_matches`: by the tagging worker for the documents it has just tagged, and by
:func:`backfill_subject` over the store when a subject is created or edited, which reads only the
candidates the keyword index finds for the expression's words (see
``WatchlistMatcher.prefilter``) and checks each with the caller's predicate.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, update

from storage import schema as s
from storage.db import dialect_insert, write_tx
from storage.filters import keyword_condition
from storage.types import utcnow

log = logging.getLogger(__name__)
LIST_FIELDS = ("exclude", "channels", "sources", "regions", "categories", "subscribers")
EDITABLE = ("expression", *LIST_FIELDS)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: Documents read and checked per backfill step (one transaction each).
BACKFILL_BATCH = 2000


class SubjectError(ValueError):
    """A subject that does not exist, or a name already taken."""


@dataclass(frozen=True)
class Subject:
    """One subject as stored."""

    id: int
    name: str
    owner: str
    expression: str
    exclude: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subscribers: tuple[str, ...] = ()  # e-mail addresses of its scheduled report
    active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    backfilled_at: datetime | None = None
    source_ids: tuple[int, ...] = field(default=(), compare=False)  # the ids of ``sources``


def _clean_list(values: Iterable[str] | None) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values or () if v and v.strip()))


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    bad = [a for a in values.get("subscribers") or () if not EMAIL.fullmatch(a)]
    if bad:
        raise SubjectError(f"not e-mail addresses: {', '.join(bad)}")
    return values


def _subject(row: Any, source_ids: Mapping[str, int]) -> Subject:
    m = row._mapping
    lists = {k: tuple(m[k] or ()) for k in LIST_FIELDS}
    ids = tuple(source_ids[n] for n in lists["sources"] if n in source_ids)
    return Subject(
        id=int(m["id"]), name=m["name"], owner=m["owner"], expression=m["expression"], active=bool(m["active"]),
        created_at=m["created_at"], updated_at=m["updated_at"], backfilled_at=m["backfilled_at"],
        source_ids=ids, **lists,
    )  # fmt: skip


def _source_ids(conn: Connection) -> dict[str, int]:
    return {name: int(i) for i, name in conn.execute(select(s.sources.c.id, s.sources.c.name))}


def _audit(conn: Connection, user: str, action: str, name: str, detail: dict[str, Any]) -> None:
    conn.execute(
        s.audit_log.insert().values(
            at=utcnow(), user=user, action=action, target=f"subject:{name}", detail=detail
        )
    )


def create_subject(
    engine: Engine, name: str, expression: str, user: str, **lists: Iterable[str] | None
) -> Subject:
    """Store a new subject (``lists``: any of :data:`LIST_FIELDS`); audited as ``subject.create``."""
    name = name.strip()
    if not name or not expression.strip():
        raise SubjectError("a subject needs a name and an expression")
    unknown = set(lists) - set(LIST_FIELDS)
    if unknown:
        raise TypeError(f"unknown subject fields {sorted(unknown)}")
    values = _checked({k: _clean_list(lists.get(k)) for k in LIST_FIELDS})
    now = utcnow()
    with write_tx(engine) as conn:
        if conn.execute(select(s.subjects.c.id).where(s.subjects.c.name == name)).first():
            raise SubjectError(f"subject {name!r} already exists")
        conn.execute(
            s.subjects.insert().values(
                name=name, owner=user, expression=expression.strip(), active=True, created_at=now,
                updated_at=now, **values,
            )
        )  # fmt: skip
        _audit(conn, user, "subject.create", name, {"expression": expression.strip(), **values})
    found = get_subject(engine, name)
    assert found is not None
    return found


def get_subject(engine: Engine, name_or_id: str | int) -> Subject | None:
    """One subject by name or id (archived ones too)."""
    t = s.subjects
    cond = t.c.id == name_or_id if isinstance(name_or_id, int) else t.c.name == name_or_id
    with engine.connect() as conn:
        row = conn.execute(select(t).where(cond)).first()
        return _subject(row, _source_ids(conn)) if row else None


def update_subject(engine: Engine, name: str, user: str, **changes: Any) -> Subject:
    """Change a subject's expression or lists (``None`` leaves a field as it is); audited as
    ``subject.edit`` with the fields changed. Reactivates nothing: see :func:`set_active`."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise TypeError(f"unknown subject fields {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if key == "expression":
            if not str(value).strip():
                raise SubjectError("a subject needs an expression")
            values[key] = str(value).strip()
        else:
            values[key] = _clean_list(value)
    _checked(values)
    with write_tx(engine) as conn:
        row = conn.execute(select(s.subjects).where(s.subjects.c.name == name)).first()
        if row is None:
            raise SubjectError(f"no subject {name!r}")
        changed = {k: v for k, v in values.items() if row._mapping[k] != v}
        if changed:
            conn.execute(
                update(s.subjects).where(s.subjects.c.id == row.id).values(**changed, updated_at=utcnow())
            )
            _audit(conn, user, "subject.edit", name, changed)
    found = get_subject(engine, name)
    assert found is not None
    return found


def set_active(engine: Engine, name: str, user: str, active: bool) -> Subject:
    """Archive (``active=False``: no new matches, matches kept) or restore a subject; audited."""
    with write_tx(engine) as conn:
        done = conn.execute(
            update(s.subjects).where(s.subjects.c.name == name).values(active=active, updated_at=utcnow())
        )
        if done.rowcount == 0:
            raise SubjectError(f"no subject {name!r}")
        _audit(conn, user, "subject.archive" if not active else "subject.restore", name, {})
    found = get_subject(engine, name)
    assert found is not None
    return found


def list_subjects(engine: Engine, include_archived: bool = True) -> list[dict[str, Any]]:
    """Every subject (by name) with ``matched``, its number of matched documents."""
    t, sd = s.subjects, s.subject_documents
    counts = select(sd.c.subject_id, func.count().label("matched")).group_by(sd.c.subject_id).subquery()
    q = select(t, func.coalesce(counts.c.matched, 0).label("matched")).outerjoin(
        counts, counts.c.subject_id == t.c.id
    )
    if not include_archived:
        q = q.where(t.c.active.is_(True))
    with engine.connect() as conn:
        ids = _source_ids(conn)
        rows = conn.execute(q.order_by(t.c.name)).all()
    return [{**_subject(r, ids).__dict__, "matched": int(r.matched)} for r in rows]


def active_subjects(conn: Connection) -> list[Subject]:
    """The subjects that match new documents."""
    rows = conn.execute(select(s.subjects).where(s.subjects.c.active.is_(True)).order_by(s.subjects.c.id))
    ids = _source_ids(conn)
    return [_subject(r, ids) for r in rows]


def subjects_version(conn: Connection) -> tuple[int, Any]:
    """Changes whenever a subject is created, edited, archived or restored (for caches)."""
    t = s.subjects
    row = conn.execute(select(func.count(), func.max(t.c.updated_at))).one()
    return int(row[0]), row[1]


def record_matches(
    conn: Connection,
    engine: Engine,
    subject_ids: Sequence[int],
    docs: Mapping[int, datetime],
    matched: Iterable[tuple[int, int]],
) -> int:
    """Make ``subject_documents`` agree with a check of ``docs`` (id -> published_at) against
    ``subject_ids``: add the ``(subject id, document id)`` pairs in ``matched`` (keeping the time of
    a match already recorded) and drop the other pairs of those subjects and documents. Returns
    how many pairs were added."""
    sd = s.subject_documents
    if not subject_ids or not docs:
        return 0
    pairs = set(matched)
    existing = {
        (int(a), int(b))
        for a, b in conn.execute(
            select(sd.c.subject_id, sd.c.document_id).where(
                sd.c.document_id.in_(list(docs)), sd.c.subject_id.in_(list(subject_ids))
            )
        )
    }
    stale = existing - pairs
    new = pairs - existing
    for subject_id in {a for a, _ in stale}:
        gone = [b for a, b in stale if a == subject_id]
        conn.execute(delete(sd).where(sd.c.subject_id == subject_id, sd.c.document_id.in_(gone)))
    if new:
        now = utcnow()
        rows = [
            {"subject_id": a, "document_id": b, "published_at": docs[b], "matched_at": now} for a, b in new
        ]
        stmt = dialect_insert(engine, sd).on_conflict_do_nothing(index_elements=["subject_id", "document_id"])
        conn.execute(stmt, rows)
    return len(new)


def prefilter_condition(engine: Engine, prefilter: Any) -> Any:
    """The SQL condition of a word prefilter (``("term", w)``, ``("and", parts)``,
    ``("or", parts)``; None: no condition) on the documents, through the keyword index."""
    if prefilter is None:
        return None
    kind, arg = prefilter
    if kind == "term":
        return keyword_condition(engine, str(arg))
    parts = [prefilter_condition(engine, p) for p in arg]
    return and_(*parts) if kind == "and" else or_(*parts)


#: The columns a subject predicate reads (documents with their tags, when tagged).
def _doc_columns() -> list[Any]:
    d, t = s.documents, s.doc_tags
    return [
        d.c.id, d.c.title, d.c.content, d.c.channel, d.c.source_id, d.c.published_at,
        t.c.province, t.c.city, t.c.district, t.c.category, t.c.document_id.label("tagged"),
    ]  # fmt: skip


def _needs_tags(subject: Subject) -> bool:
    return bool(subject.regions or subject.categories)


@dataclass
class BackfillResult:
    """What a backfill did."""

    candidates: int = 0
    matched: int = 0
    added: int = 0
    removed: int = 0
    seconds: float = 0.0


def backfill_subject(
    engine: Engine,
    subject: Subject,
    predicate: Callable[[Mapping[str, Any]], bool],
    prefilter: Any,
    *,
    batch: int = BACKFILL_BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillResult:
    """Check the store against ``subject`` and record what matches (see :func:`record_matches`).

    Reads the ids of the candidates first (the keyword index for ``prefilter``, the subject's
    channels and sources in SQL), then checks them ``batch`` at a time, oldest first, calling
    ``progress(done, total)`` after each step. A subject with region or category filters matches
    tagged documents only (the worker checks the others when it tags them).
    """
    started = time.perf_counter()
    d, t, sd = s.documents, s.doc_tags, s.subject_documents
    conds = [c for c in (prefilter_condition(engine, prefilter),) if c is not None]
    if subject.channels:
        conds.append(d.c.channel.in_(list(subject.channels)))
    if subject.sources:
        conds.append(d.c.source_id.in_(list(subject.source_ids)))
    with engine.connect() as conn:
        ids = [int(i) for (i,) in conn.execute(select(d.c.id).where(*conds).order_by(d.c.id))]
        recorded = {
            int(i) for (i,) in conn.execute(select(sd.c.document_id).where(sd.c.subject_id == subject.id))
        }
    result = BackfillResult(candidates=len(ids))
    before = len(recorded)
    joined = d.outerjoin(t, t.c.document_id == d.c.id)
    for lo in range(0, len(ids), batch):
        chunk = ids[lo : lo + batch]
        with engine.connect() as conn:
            rows = conn.execute(select(*_doc_columns()).select_from(joined).where(d.c.id.in_(chunk))).all()
        docs = [dict(r._mapping) for r in rows]
        hits = [
            r["id"] for r in docs if (r["tagged"] is not None or not _needs_tags(subject)) and predicate(r)
        ]  # fmt: skip
        times = {int(r["id"]): r["published_at"] for r in docs}
        with write_tx(engine) as conn:
            result.added += record_matches(conn, engine, [subject.id], times, [(subject.id, i) for i in hits])
        recorded -= set(times)
        result.matched += len(hits)
        if progress is not None:
            progress(min(lo + batch, len(ids)), len(ids))
    # Recorded matches that are no longer even candidates (an edited expression or filter).
    stale = sorted(recorded)
    for lo in range(0, len(stale), batch):
        with write_tx(engine) as conn:
            gone = stale[lo : lo + batch]
            conn.execute(delete(sd).where(sd.c.subject_id == subject.id, sd.c.document_id.in_(gone)))
    result.removed = before - (result.matched - result.added)
    with write_tx(engine) as conn:
        conn.execute(update(s.subjects).where(s.subjects.c.id == subject.id).values(backfilled_at=utcnow()))
    result.seconds = time.perf_counter() - started
    log.info(
        "subject backfilled",
        extra={"subject": subject.name, "candidates": result.candidates, "matched": result.matched},
    )
    return result


def subject_document_ids(subject_id: int) -> Any:
    """A select of the ids of the documents a subject holds (for read filters)."""
    sd = s.subject_documents
    return select(sd.c.document_id).where(sd.c.subject_id == int(subject_id))


# -- reads for subject alert rules --------------------------------------------------------------
def _active_named(names: Sequence[str] | None) -> Any:
    t = s.subjects
    cond = t.c.active.is_(True)
    return and_(cond, t.c.name.in_(list(names))) if names else cond


def subject_hourly_frame(
    engine: Engine, start: datetime, end: datetime, names: Sequence[str] | None = None
) -> Any:
    """First copies (``n``) per hour x active subject (``value``: its name) x sentiment in
    ``[start, end]``, the shape of ``alerts.loaders.load_rollup_frame``."""
    import pandas as pd

    from storage.db import truncate_time

    t, sd, d, tags = s.subjects, s.subject_documents, s.documents, s.doc_tags
    bucket = truncate_time(engine, sd.c.published_at, "hour")
    sentiment = func.coalesce(tags.c.sentiment, "")
    q = (
        select(bucket.label("bucket"), t.c.name, sentiment, func.count())
        .select_from(
            sd.join(t, t.c.id == sd.c.subject_id)
            .join(d, d.c.id == sd.c.document_id)
            .outerjoin(tags, tags.c.document_id == sd.c.document_id)
        )
        .where(
            _active_named(names), sd.c.published_at >= start, sd.c.published_at <= end, d.c.dup_of.is_(None)
        )
        .group_by(bucket, t.c.name, sentiment)
    )
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(q)]
    frame = pd.DataFrame(rows, columns=["bucket", "value", "sentiment", "n"])
    frame["bucket"] = pd.to_datetime(frame["bucket"], utc=True)
    frame["n"] = frame["n"].astype("float64")
    return frame


def subject_firsts(
    engine: Engine, end: datetime, by: str = "channel", names: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Per active subject and channel (``by="channel"``) or tagged province (``by="province"``):
    the first document time and the documents up to ``end`` (``value``: the channel or province)."""
    t, sd, d, tags = s.subjects, s.subject_documents, s.documents, s.doc_tags
    joined = sd.join(t, t.c.id == sd.c.subject_id).join(d, d.c.id == sd.c.document_id)
    conds = [_active_named(names), sd.c.published_at <= end]
    if by == "channel":
        value = d.c.channel
    elif by == "province":
        joined, value = joined.join(tags, tags.c.document_id == sd.c.document_id), tags.c.province
        conds += [value.is_not(None), value != ""]
    else:
        raise ValueError(f"by must be channel or province, not {by!r}")
    q = (
        select(t.c.name, value, func.min(sd.c.published_at), func.count())
        .select_from(joined)
        .where(*conds)
        .group_by(t.c.name, value)
    )
    with engine.connect() as conn:
        return [{"subject": n, "value": v, "first_at": f, "n": int(k)} for n, v, f, k in conn.execute(q)]


def subject_document_sample(
    engine: Engine,
    name: str,
    start: datetime,
    end: datetime,
    channel: str | None = None,
    province: str | None = None,
    limit: int = 3,
) -> list[int]:
    """Ids of a subject's most copied and engaged first copies in ``[start, end]`` (alert evidence)."""
    t, sd, d = s.subjects, s.subject_documents, s.documents
    weight = d.c.dup_count + d.c.likes + d.c.reposts + d.c.comments
    q = (
        select(d.c.id)
        .select_from(sd.join(t, t.c.id == sd.c.subject_id).join(d, d.c.id == sd.c.document_id))
        .where(t.c.name == name, sd.c.published_at >= start, sd.c.published_at <= end)
        .order_by(weight.desc(), d.c.id)
        .limit(limit)
    )
    if channel is not None:
        q = q.where(d.c.channel == channel)
    if province is not None:
        tags = s.doc_tags
        q = q.where(d.c.id.in_(select(tags.c.document_id).where(tags.c.province == province)))
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(q).scalars()]
