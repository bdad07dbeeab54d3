"""Dead letters: items a source could not store and documents the NLP workers could not tag.

Each row names its source, where the item is (``ref``: ``file.csv:12``, ``seg-….jsonl:4``,
``page 2 item 7``, or the document id), the error class and a short message, and a ``locator``
telling ``sensing deadletter retry`` how to read the item again. The item's text is not kept
here (it is unmasked): a retry re-reads it from the spool or the file. Status: ``open`` until an
operator retries it (``retried``) or drops it (``dropped``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from storage import schema as s
from storage.db import write_tx
from storage.types import utcnow

MESSAGE_CHARS = 500
STATUSES = ("open", "retried", "dropped")


@dataclass
class DeadLetter:
    """One item or document set aside, as written."""

    ref: str
    error_class: str
    message: str
    kind: str = "item"  # item | document (the fast tier failed on it) | encoding (the encoder tier did)
    external_id: str | None = None
    document_id: int | None = None
    locator: dict[str, Any] | None = field(default=None)


def is_item_error(exc: BaseException) -> bool:
    """True when ``exc`` comes from the data written (a value the database refuses), not from the
    database itself (connection lost, locked, out of space): only the former is worth splitting.

    Both SQLAlchemy's wrappers and the drivers' own (PEP 249) errors count: the PostgreSQL ``COPY``
    path talks to psycopg directly.
    """
    import sqlite3

    import psycopg
    from sqlalchemy.exc import DataError, IntegrityError, OperationalError, StatementError

    data_errors: tuple[type[Exception], ...] = (DataError, IntegrityError, psycopg.DataError)
    data_errors += (psycopg.IntegrityError, sqlite3.DataError, sqlite3.IntegrityError)
    if isinstance(exc, data_errors):
        return True
    if isinstance(exc, OperationalError | psycopg.OperationalError | sqlite3.OperationalError):
        return False
    if isinstance(exc, StatementError):
        exc = exc.orig if exc.orig is not None else exc
        if isinstance(exc, data_errors):
            return True
    return isinstance(exc, ValueError | TypeError | OverflowError | UnicodeError | KeyError)


def _clean(text: str, limit: int) -> str:
    """Short, storable text: NUL and lone surrogates dropped (PostgreSQL refuses them)."""
    text = text.replace("\x00", "")
    text = text.encode("utf-8", "ignore").decode("utf-8") if _has_surrogate(text) else text
    return text[:limit]


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def write_dead_letters(conn: Connection, source_id: int, entries: Sequence[DeadLetter]) -> int:
    """Insert ``entries`` in the caller's transaction; an entry whose (source, ref) is already open
    counts one more attempt instead of adding a row. Returns how many rows were added."""
    if not entries:
        return 0
    dl = s.dead_letters
    now = utcnow()
    refs = list(dict.fromkeys(_clean(e.ref, 300) for e in entries))
    q = select(dl.c.ref, dl.c.id).where(
        dl.c.source_id == source_id, dl.c.status == "open", dl.c.ref.in_(refs)
    )
    open_ids: dict[str, int] = {str(ref): int(i) for ref, i in conn.execute(q)}
    rows = []
    for e in entries:
        ref = _clean(e.ref, 300)
        values = {
            "error_class": _clean(e.error_class, 100),
            "message": _clean(e.message, MESSAGE_CHARS),
            "locator": e.locator,
        }
        if ref in open_ids:
            if e.locator is None:  # a retry that failed again: keep where the item is
                del values["locator"]
            conn.execute(
                update(dl).where(dl.c.id == open_ids[ref]).values(attempts=dl.c.attempts + 1, **values)
            )
            continue
        open_ids[ref] = -1  # the same ref twice in one call: keep the first
        rows.append(
            {
                **values,
                "source_id": source_id,
                "kind": e.kind,
                "ref": ref,
                "external_id": _clean(e.external_id, 255) if e.external_id else None,
                "document_id": e.document_id,
                "status": "open",
                "attempts": 1,
                "created_at": now,
                "resolved_at": None,
            }
        )
    if rows:
        conn.execute(dl.insert(), rows)
    return len(rows)


def list_dead_letters(
    engine: Engine, *, status: str | None = "open", source: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Dead letters, oldest first, with the source's name (``status=None``: every status)."""
    dl, src = s.dead_letters, s.sources
    q = select(dl, src.c.name.label("source")).join(src, src.c.id == dl.c.source_id).order_by(dl.c.id)
    if status is not None:
        q = q.where(dl.c.status == status)
    if source is not None:
        q = q.where(src.c.name == source)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q.limit(limit))]


def get_dead_letter(engine: Engine, dead_id: int) -> dict[str, Any] | None:
    """One dead letter with its source's name and kind, or None."""
    dl, src = s.dead_letters, s.sources
    q = (
        select(dl, src.c.name.label("source"), src.c.kind.label("source_kind"))
        .join(src, src.c.id == dl.c.source_id)
        .where(dl.c.id == dead_id)
    )
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return dict(row._mapping) if row else None


def resolve_dead_letter(engine: Engine, dead_id: int, status: str) -> bool:
    """Close an open dead letter as ``retried`` or ``dropped``; False when it is not open."""
    if status not in STATUSES[1:]:
        raise ValueError(f"status must be one of {STATUSES[1:]}, got {status!r}")
    dl = s.dead_letters
    with write_tx(engine) as conn:
        result = conn.execute(
            update(dl)
            .where(dl.c.id == dead_id, dl.c.status == "open")
            .values(status=status, resolved_at=utcnow())
        )
    return bool(result.rowcount)


def record_attempt(engine: Engine, dead_id: int, error_class: str, message: str) -> None:
    """A retry of an open dead letter failed again: count it and keep the newest error."""
    dl = s.dead_letters
    with write_tx(engine) as conn:
        conn.execute(
            update(dl)
            .where(dl.c.id == dead_id, dl.c.status == "open")
            .values(
                attempts=dl.c.attempts + 1,
                error_class=_clean(error_class, 100),
                message=_clean(message, MESSAGE_CHARS),
            )
        )


def reopen_document(engine: Engine, document_id: int) -> None:
    """Remove the failure mark of a document the NLP worker could not tag, so it is tagged again."""
    t = s.doc_tags
    with write_tx(engine) as conn:
        failed = t.c.model_versions["failed"].as_string().is_not(None)
        conn.execute(t.delete().where(t.c.document_id == document_id, failed))


def open_counts(engine: Engine) -> dict[int, int]:
    """Open dead letters per source id."""
    dl = s.dead_letters
    q = select(dl.c.source_id, func.count()).where(dl.c.status == "open").group_by(dl.c.source_id)
    with engine.connect() as conn:
        return {int(k): int(n) for k, n in conn.execute(q)}
