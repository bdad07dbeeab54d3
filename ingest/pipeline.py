"""The I/O edge of ingestion: run one source, clean and de-duplicate its items, store them.

For each batch a source yields, :class:`Ingestor`

1. counts items whose ``(source, external id)`` is already stored as ``duplicates`` and drops them
   (a restart that re-fetches a batch re-imports nothing);
2. normalises title, body and reply (:func:`ingest.clean.normalize_text`); an item with no body
   falls back to its title, and with neither it is *skipped* with reason ``no_text``;
3. reads the time: an item with no time gets the fetch time and is *flagged* ``no_date``;
4. masks personal data (:func:`ingest.pii.mask_pii`) and replaces the author by a keyed hash;
5. links copies to the first one (``dup_of``): same content hash (stored or earlier in the batch)
   or a near duplicate from a :class:`~ingest.dedup.NearDuplicateIndex` warmed from recent days;
6. writes rows and the batch's cursor in one transaction (:func:`storage.documents.write_documents`,
   the multi-row form of :meth:`Store.write_documents`). ``dup_of`` always names the cluster's
   first copy, whose ``dup_count`` counts the copies.

Poison items never stall a source. Every item is normalised first (:func:`ingest.base.sanitize_item`);
one that still cannot be prepared, or that the source rejected (:attr:`FetchBatch.rejected`), is a
*dead letter* (:mod:`storage.dead_letters`: source, row or line, error class, message). When the
write itself fails on bad data, the batch is split in halves until the failing rows are alone:
the good rows are committed, the bad ones dead-lettered, and the cursor moves on with them. An
operational error (connection lost, database locked) is not split: it ends the run as before.

Every run leaves an ``ingest_runs`` row (fetched, new, duplicates, skipped with reasons,
errors, latency) and one summary log line. Source errors end the run, never the process:
what was committed stays, and the next run resumes from the last committed cursor.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ingest import store_ops
from ingest.base import (
    FatalSourceError,
    FetchBatch,
    RawItem,
    RetriableSourceError,
    Source,
    SourceError,
    sanitize_item,
)
from ingest.clean import content_hash, extract_region_hint, normalize_text
from ingest.dedup import NearDuplicateIndex
from ingest.pii import hash_author, mask_extra, mask_pii
from ingest.run_report import RunReport
from kernel.batches import isolate_failures
from kernel.errors import describe_error
from storage.dead_letters import DeadLetter, is_item_error
from storage.documents import write_documents
from storage.store import Store
from storage.types import utcnow

log = logging.getLogger(__name__)

FUTURE_SLACK = timedelta(days=1)


@dataclass
class _Prepared:
    row: dict[str, Any]
    origin: str = ""
    key: int | None = None  # provisional near-dup index key of a first copy
    pending_of: int | None = None  # position in the batch of the first copy this row copies
    dup_kind: str | None = None  # "exact" | "near" for copies


class Ingestor:
    """Runs sources into the store; keep one per process so the near-duplicate index stays warm.

    Args:
        store: The write API.
        author_key: Key for :func:`ingest.pii.hash_author`.
        index: A near-duplicate index (built with ``threshold``/``num_perm`` when None);
            pass ``False`` to switch near-duplicate linking off.
        warm_days / warm_limit: How much recent history warms the index on first use.
        min_near_chars: Texts shorter than this are only checked for exact copies.
        max_indexed: The index forgets its oldest texts beyond this many (bounded memory).
        clock: The current time (for tests).
    """

    def __init__(
        self,
        store: Store,
        *,
        author_key: str,
        index: NearDuplicateIndex | bool | None = None,
        threshold: float = 0.8,
        num_perm: int = 64,
        warm_days: int = 3,
        warm_limit: int = 20_000,
        min_near_chars: int = 10,
        max_indexed: int = 200_000,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.author_key = author_key
        if index is False:
            self.index: NearDuplicateIndex | None = None
        elif index is None or index is True:
            self.index = NearDuplicateIndex(threshold=threshold, num_perm=num_perm)
        else:
            self.index = index
        self.warm_days = warm_days
        self.warm_limit = warm_limit
        self.min_near_chars = min_near_chars
        self.max_indexed = max_indexed
        self._indexed: deque[int] = deque()
        self.clock = clock
        self._warmed = False
        self._next_key = -1
        self._resolved: dict[int, int] = {}  # provisional index key -> document id

    # -- the near-duplicate index ------------------------------------------------------
    def warm(self) -> int:
        """Load recent first copies into the index once; returns how many were added."""
        if self._warmed or self.index is None:
            return 0
        self._warmed = True
        since = self.clock() - timedelta(days=self.warm_days)
        rows = store_ops.recent_first_copies(self.store.engine, since, self.warm_limit)
        pairs = [(doc_id, content) for doc_id, content in rows if len(content) >= self.min_near_chars]
        self.index.add_many(pairs)
        for doc_id, _ in pairs:
            self._remember(doc_id)
        log.debug("near-duplicate index warmed with %d documents", len(rows))
        return len(rows)

    def _remember(self, key: int) -> None:
        self._indexed.append(key)
        while len(self._indexed) > self.max_indexed:
            old = self._indexed.popleft()
            assert self.index is not None
            self.index.remove(old)
            self._resolved.pop(old, None)

    def _near_firsts(self, prepared: Sequence[_Prepared], positions: Sequence[int]) -> dict[int, int]:
        """Look up (and index, when new) the texts at ``positions``, in order, as one batch.

        Each gets a provisional key (a negative number: a first copy of this run, not stored yet,
        see ``_resolved``). Returns position -> the first copy's key, for the near copies; the
        other texts are indexed under their keys, which ``prepared[pos].key`` then holds.
        """
        if self.index is None:
            return {}
        positions = [pos for pos in positions if len(prepared[pos].row["content"]) >= self.min_near_chars]
        keys = list(range(self._next_key, self._next_key - len(positions), -1))
        self._next_key -= len(positions)
        found = self.index.lookup_or_add_many(
            (key, prepared[pos].row["content"]) for key, pos in zip(keys, positions, strict=True)
        )
        near: dict[int, int] = {}
        for key, pos, first in zip(keys, positions, found, strict=True):
            if first is None:
                prepared[pos].key = key
                self._remember(key)
            else:
                near[pos] = int(first)  # type: ignore[call-overload]
        return near

    # -- one run -----------------------------------------------------------------------
    def run(self, source: Source, *, kind: str | None = None) -> RunReport:
        """Fetch everything new from ``source`` and store it; never raises a source's error."""
        started = time.monotonic()
        report = RunReport(source=source.name)
        source_id = self.store.ensure_source(source.name, kind or source.kind, source.channel)
        store_ops.close_stale_runs(self.store.engine, source_id)
        report.run_id = self.store.start_ingest_run(source_id)
        try:
            self.warm()
            cursor = self.store.get_cursor(source_id)
            for batch in source.fetch(cursor):
                self.write_batch(source, source_id, batch, report)
        except FatalSourceError as exc:
            self._record_error(report, source, exc, "fatal")
        except RetriableSourceError as exc:
            self._record_error(report, source, exc, "retriable")
        except SourceError as exc:
            self._record_error(report, source, exc, "source")
        except Exception as exc:  # noqa: BLE001 - a bug in one source must not stop the others
            source.log.exception("unexpected error in source %s", source.name)
            self._record_error(report, source, exc, "unexpected")
        except BaseException as exc:  # interrupted: record it, then let it go
            self._record_error(report, source, exc, "interrupted")
            self._finish(report, started)
            raise
        self._finish(report, started)
        return report

    def _record_error(self, report: RunReport, source: Source, exc: BaseException, what: str) -> None:
        report.errors += 1
        report.error = describe_error(exc)
        source.log.warning("%s error in source %s: %s", what, source.name, report.error)

    def _finish(self, report: RunReport, started: float) -> None:
        report.latency_ms = int((time.monotonic() - started) * 1000)
        if report.errors == 0:
            report.status = "ok"
        else:
            report.status = "partial" if report.batches else "failed"
        if report.run_id is not None:
            self.store.finish_ingest_run(
                report.run_id,
                status=report.status,
                fetched=report.fetched,
                new=report.new,
                duplicates=report.duplicates,
                skipped=report.n_skipped,
                errors=report.errors,
                skip_reasons=report.skip_reasons(),
                error=report.error,
                latency_ms=report.latency_ms,
            )
        log.info(report.summary())

    # -- one batch ---------------------------------------------------------------------
    def write_batch(self, source: Source, source_id: int, batch: FetchBatch, report: RunReport) -> None:
        """Prepare and store one batch with its cursor (the cursor commits with the rows).

        Items that cannot be stored are dead-lettered in the same transaction; the rest are kept.
        """
        report.fetched += len(batch.items) + len(batch.skipped) + len(batch.rejected)
        for _ref, reason in batch.skipped:
            report.skipped[reason] += 1
        dead: list[DeadLetter] = []
        for rejected in batch.rejected:
            report.skipped[rejected.reason] += 1
            dead.append(DeadLetter(rejected.ref, rejected.error_class, rejected.message))
        items: list[RawItem] = []
        for item in batch.items:
            try:
                items.append(sanitize_item(item))
            except Exception as exc:  # noqa: BLE001 - one bad item is set aside, not the batch
                dead.append(_dead_item(item.origin, str(item.external_id)[:255], exc))
        fetched_at = self.clock()
        stored = store_ops.ids_by_external_id(self.store.engine, source_id, [i.external_id for i in items])
        fresh: list[RawItem] = []
        seen: set[str] = set(stored)
        for item in items:
            if item.external_id in seen:
                report.duplicates += 1
                continue
            seen.add(item.external_id)
            fresh.append(item)
        prepared: list[_Prepared] = []
        for item in fresh:
            try:
                p = self._prepare(item, source, fetched_at, report)
            except Exception as exc:  # noqa: BLE001 - as above
                dead.append(_dead_item(item.origin, item.external_id, exc))
                continue
            if p is not None:
                prepared.append(p)
        self._link_copies(prepared, report)
        rows = [p.row for p in prepared if p.pending_of is None]
        copies = [
            (p.row, prepared[p.pending_of].row["external_id"]) for p in prepared if p.pending_of is not None
        ]
        origins = {p.row["external_id"]: p.origin for p in prepared}
        engine = self.store.engine
        bad: list[DeadLetter] = []
        try:
            new_ids = write_documents(
                engine, source_id, rows, batch.cursor, copies, dead=self._located(source, dead)
            )
        except Exception as exc:
            if not is_item_error(exc):
                raise
            source.log.warning("batch of %d rows failed (%s): isolating the bad rows", len(prepared), exc)
            new_ids, bad = self._isolate(source_id, rows, copies, origins)
            dead.extend(bad)
            write_documents(engine, source_id, [], batch.cursor, (), dead=self._located(source, dead))
        for p in prepared:
            if p.key is not None and p.row["external_id"] in new_ids:
                self._resolved[p.key] = new_ids[p.row["external_id"]]
        written = len(prepared) - len(bad)
        report.new += len(new_ids)
        report.duplicates += written - len(new_ids)
        report.dead_lettered += len(dead)
        report.skipped["dead_letter"] += len(dead) - len(batch.rejected)  # the rejected are counted above
        if not report.skipped["dead_letter"]:
            del report.skipped["dead_letter"]
        for d in dead:
            source.log.warning("dead-lettered %s: %s: %s", d.ref, d.error_class, d.message[:200])
        report.batches += 1

    def _located(self, source: Source, dead: list[DeadLetter]) -> list[DeadLetter]:
        """Ask the source to keep each dead item for a retry (before the batch commits); messages
        may quote the values at fault, so personal data in them is masked like any stored text."""
        for d in dead:
            d.message = mask_pii(d.message)
            if d.locator is not None:
                continue
            try:
                d.locator = source.keep_for_retry(d.ref)
            except Exception as exc:  # noqa: BLE001 - the dead letter is still recorded
                source.log.warning("cannot keep %s for a retry: %s", d.ref, exc)
        return dead

    def _isolate(
        self,
        source_id: int,
        rows: list[dict[str, Any]],
        copies: list[tuple[dict[str, Any], str]],
        origins: dict[str, str],
    ) -> tuple[dict[str, int], list[DeadLetter]]:
        """Write ``rows`` then ``copies`` in halves, each half in its own transaction, until every
        failing row is alone; returns (external id -> id of the rows stored, the failing rows).

        First copies come before their copies, so a copy's first copy is stored before it (or
        dead-lettered, and the copy is then stored as a first copy). A crash in between commits
        some rows without the cursor: the next run counts them as already stored.
        """
        units: list[tuple[dict[str, Any], str | None]] = [(r, None) for r in rows] + list(copies)
        new_ids: dict[str, int] = {}
        dead: list[DeadLetter] = []
        engine = self.store.engine

        def write(part: Sequence[tuple[dict[str, Any], str | None]]) -> list[None]:
            new_ids.update(
                write_documents(
                    engine,
                    source_id,
                    [r for r, first in part if first is None],
                    None,
                    [(r, first) for r, first in part if first is not None],
                )
            )
            return []

        mid = len(units) // 2  # the whole batch already failed: start from its halves
        for half in (units[:mid], units[mid:]):
            for (row, _), exc in isolate_failures(half, write, is_item_error)[1]:
                ext = row["external_id"]
                dead.append(_dead_item(origins.get(ext) or ext, ext, exc))
        return new_ids, dead

    def _prepare(
        self, item: RawItem, source: Source, fetched_at: datetime, report: RunReport
    ) -> _Prepared | None:
        title = normalize_text(item.title) or None
        content = normalize_text(item.content) or title or ""
        if not content:
            report.skipped["no_text"] += 1
            return None
        flags = [str(f) for f in item.extra.get("flags", [])]
        published = item.published_at
        if published is None:
            published = fetched_at
            flags.append("no_date")
        elif published > fetched_at + FUTURE_SLACK:
            flags.append("future_date")
        for flag in flags:
            report.flagged[flag] += 1
        extra = mask_extra({k: v for k, v in item.extra.items() if k != "flags"})
        if flags:
            extra["flags"] = sorted(set(flags))
        masked_title = mask_pii(title) if title else None
        masked = mask_pii(content)
        reply = normalize_text(item.reply) or None
        region = item.region_hint or extract_region_hint(f"{title or ''} {content[:300]}")
        row: dict[str, Any] = {
            "external_id": item.external_id,
            "channel": item.channel or source.channel,
            "url": item.url,
            "title": masked_title,
            "content": masked,
            "author_hash": hash_author(item.author, self.author_key) if item.author else None,
            "published_at": published,
            "fetched_at": fetched_at,
            "region_hint": region[:128] if region else None,
            "likes": item.likes,
            "reposts": item.reposts,
            "comments": item.comments,
            "reads": item.reads,
            "content_hash": content_hash(masked),
            "reply": mask_pii(reply) if reply else None,
            "replied_at": item.replied_at,
            "simulated": bool(item.simulated),
            "extra": extra or None,
        }
        return _Prepared(row, item.origin)

    def _link_copies(self, prepared: Sequence[_Prepared], report: RunReport) -> None:
        """Set ``dup_of`` (or ``pending_of``) on copies; index first copies long enough to compare."""
        by_hash = self.store.find_by_hash([p.row["content_hash"] for p in prepared])
        roots = store_ops.first_copies(self.store.engine, list(by_hash.values()))
        stored = {h: roots.get(i, i) for h, i in by_hash.items()}  # always link to the cluster's first
        first_in_batch: dict[str, int] = {}
        for pos, p in enumerate(prepared):
            first_in_batch.setdefault(p.row["content_hash"], pos)
        near_of = self._near_firsts(prepared, [pos for h, pos in first_in_batch.items() if h not in stored])
        pending_keys = {p.key: pos for pos, p in enumerate(prepared) if p.key is not None}
        for pos, p in enumerate(prepared):
            h = p.row["content_hash"]
            if h in stored:
                p.row["dup_of"], p.dup_kind = stored[h], "exact"
            elif first_in_batch[h] != pos:
                first = prepared[first_in_batch[h]]
                p.dup_kind = "exact"
                if first.row.get("dup_of"):  # the earlier copy is itself linked: join its cluster
                    p.row["dup_of"] = first.row["dup_of"]
                else:
                    p.pending_of = first.pending_of if first.pending_of is not None else first_in_batch[h]
            elif pos in near_of:
                near = near_of[pos]
                if near > 0:
                    p.row["dup_of"], p.dup_kind = near, "near"
                elif near in self._resolved:
                    p.row["dup_of"], p.dup_kind = self._resolved[near], "near"
                elif near in pending_keys:
                    p.pending_of, p.dup_kind = pending_keys[near], "near"
            if p.dup_kind:
                p.row["extra"] = {**(p.row["extra"] or {}), "dup_kind": p.dup_kind}
                if p.dup_kind == "exact":
                    report.exact_copies += 1
                else:
                    report.near_copies += 1


def _dead_item(ref: str, external_id: str | None, exc: BaseException) -> DeadLetter:
    error = exc.orig if getattr(exc, "orig", None) is not None else exc  # type: ignore[attr-defined]
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DeadLetter(
        ref=ref or (f"id {external_id}" if external_id else "unknown"),
        error_class=type(error).__name__,
        message=message,
        external_id=external_id or None,
    )
