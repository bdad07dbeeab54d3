"""Match newly tagged documents against the active subjects, inside the tagging transaction.

:class:`SubjectMatching` is the ``on_tagged`` hook of ``nlp.jobs.tag_batch`` that ``sensing
process`` and ``sensing worker`` pass: per batch it reads the subjects' version (one small query),
recompiles only when a subject was created, edited, archived or restored, normalises each text
once for all subjects, and records the matches with the tags (so a document is never tagged
without its subjects being checked). A stored expression that no longer parses is skipped with a
warning rather than stopping the worker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select

from analytics.subjects import (
    SubjectMatcher,
    WatchlistSyntaxError,
    compile_subject,
    match_documents,
    spec_from,
)
from storage import schema as s
from storage.subjects import active_subjects, record_matches, subjects_version

log = logging.getLogger(__name__)
TAG_FIELDS = ("province", "city", "district", "category")


class SubjectMatching:
    """The tagging hook; keep one per worker process (it caches the compiled subjects)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._version: tuple[int, Any] | None = None
        self._matchers: list[SubjectMatcher] = []
        self.matched = 0

    def _refresh(self, conn: Any) -> None:
        version = subjects_version(conn)
        if version == self._version:
            return
        matchers = []
        for subject in active_subjects(conn):
            try:
                matchers.append(compile_subject(spec_from(subject)))
            except WatchlistSyntaxError as exc:
                log.warning("subject %s skipped: %s", subject.name, exc)
        self._matchers, self._version = matchers, version

    def __call__(self, conn: Any, docs: Sequence[Any], rows: Sequence[dict[str, Any]]) -> None:
        self._refresh(conn)
        if not self._matchers or not rows:
            return
        meta = {r.id: r for r in docs}
        items = []
        for row in rows:
            doc = meta[row["document_id"]]
            item = {"id": doc.id, "title": doc.title, "content": doc.content, "channel": doc.channel}
            items.append(item | {k: row.get(k) for k in TAG_FIELDS})
        if any(m.spec.source_ids for m in self._matchers):
            d = s.documents
            ids = [i["id"] for i in items]
            sources = dict(conn.execute(select(d.c.id, d.c.source_id).where(d.c.id.in_(ids))).all())
            for item in items:
                item["source_id"] = sources.get(item["id"])
        pairs = [(key, int(doc["id"])) for key, doc in match_documents(self._matchers, items)]
        times = {int(r["document_id"]): r["published_at"] for r in rows}
        keys = [m.spec.key for m in self._matchers]
        self.matched += record_matches(conn, self.engine, keys, times, pairs)
