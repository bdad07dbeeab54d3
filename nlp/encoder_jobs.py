"""Encoder-tier jobs: encode the backlog in priority order (what ``sensing encode`` runs).

Mirrors :mod:`nlp.jobs` for the fast tier. A batch is claimed from :mod:`storage.encoder_backlog`
(priority channels, then hot topics and open alerts, then the rest; newest first), embedded and
tagged by an :class:`~nlp.encoder_tier.EncoderTagger`, and stored by
:func:`storage.encodings.store_encodings`: the embedding and labels in ``encoder_tags``, the labels
copied onto ``doc_tags`` with ``tier = "encoder"`` and a new ``tagged_at``, so the next rollup
refresh counts them.

On PostgreSQL the claim locks its documents (``FOR UPDATE SKIP LOCKED``) until the results are
committed, so several workers share the backlog and none encodes a document twice. On SQLite the
batch is read, encoded with no transaction open (the encoder takes seconds and SQLite has one
writer) and written in a short transaction that first checks the documents still wait.

A batch the tagger fails on is split in halves until the failing documents are alone: the others
are stored, and each failing one is passed over (``tier = "fastonly"``: it keeps the fast tier's
labels) with a dead letter of kind ``encoding`` (``sensing deadletter retry ID`` puts it back).
When every document of a batch fails alone, the tagger is at fault: nothing is marked and the
error ends the batch. Documents whose text was archived are passed over without encoding.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine

from kernel.batches import isolate_failures
from nlp.encoder import pack
from nlp.encoder_tier import EncoderTagger
from nlp.pipeline import DocInput
from storage.db import is_sqlite, write_tx
from storage.dead_letters import is_item_error
from storage.encoder_backlog import Priority, claim_encoder_backlog, still_due
from storage.encodings import pass_over, record_encoding_failures, store_encodings
from storage.types import utcnow

log = logging.getLogger(__name__)


def _encode_isolating(
    tagger: EncoderTagger, docs: Sequence[Any]
) -> tuple[list[dict[str, Any]], list[tuple[Any, Exception]]]:
    """Encode ``docs``; when the tagger raises, split them until each failing document is alone.

    Returns (results with packed embeddings, (document, error) of those that failed).
    """

    def encode(part: Sequence[Any]) -> list[dict[str, Any]]:
        rows = tagger.tag([DocInput(d.id, d.content, d.title, d.region_hint) for d in part])
        if len(rows) != len(part):
            raise RuntimeError(f"the encoder returned {len(rows)} results for {len(part)} documents")
        blobs = pack(np.stack([r["embedding"] for r in rows]))
        for row, blob in zip(rows, blobs, strict=True):
            row["embedding"] = blob
        return rows

    def warn(n: int, exc: Exception) -> None:
        log.warning("encoding %d documents failed (%s): isolating the bad ones", n, exc)

    return isolate_failures(docs, encode, on_split=warn)


def _store_isolating(
    engine: Engine, conn: Any, docs: dict[int, Any], rows: list[dict[str, Any]], version: str, now: Any
) -> list[tuple[dict[str, Any], Exception]]:
    """Store ``rows`` in a savepoint; when the database refuses a value, split them until each
    refused row is alone. Returns the refused rows with their errors (the rest are stored)."""

    def store(part: Sequence[dict[str, Any]]) -> list[None]:
        with conn.begin_nested():
            store_encodings(engine, conn, docs, part, version, now)
        return []

    return isolate_failures(rows, store, is_item_error)[1]


def _failure(doc_id: int, exc: Exception) -> tuple[int, str, str]:
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    log.warning("document %s could not be encoded: %s: %s", doc_id, type(exc).__name__, message)
    return doc_id, type(exc).__name__, message


def _encode(
    tagger: EncoderTagger, docs: Sequence[Any]
) -> tuple[list[dict[str, Any]], list[tuple[Any, Exception]]]:
    live = [d for d in docs if not d.archived]
    rows, failed = _encode_isolating(tagger, live) if live else ([], [])
    if failed and len(failed) == len(live) > 1:  # the tagger is broken, not the documents
        raise failed[0][1]
    return rows, failed


def _write(
    engine: Engine,
    conn: Any,
    version: str,
    docs: Sequence[Any],
    rows: list[dict[str, Any]],
    failed: list[tuple[Any, Exception]],
) -> int:
    now = utcnow()  # stamped at the write, so the rollup refresh's look-back covers the commit
    meta = {d.id: d for d in docs}
    refused = _store_isolating(engine, conn, meta, rows, version, now)
    failures = [_failure(d.id, exc) for d, exc in failed]
    failures += [_failure(r["document_id"], exc) for r, exc in refused]
    record_encoding_failures(engine, conn, meta, failures, version, now)
    pass_over(engine, conn, meta, [d.id for d in docs if d.archived], version, now)
    return len(docs)


def encode_batch(
    engine: Engine, tagger: EncoderTagger, batch_size: int, priority: Priority | None = None
) -> int:
    """Claim, encode and store one batch; returns how many documents left the backlog (encoded,
    or passed over). 0 means nothing is waiting (or all of it is held by other workers); -1
    (SQLite) that the batch had been encoded meanwhile by another process: try again."""
    version = tagger.version
    if is_sqlite(engine):
        with engine.connect() as conn:
            claim = claim_encoder_backlog(conn, engine, version, batch_size, priority)
        if not claim:
            return 0
        rows, failed = _encode(tagger, claim.rows)
        with write_tx(engine) as conn:
            due = still_due(conn, version, [d.id for d in claim.rows])
            docs = [d for d in claim.rows if d.id in due]
            rows = [r for r in rows if r["document_id"] in due]
            failed = [(d, exc) for d, exc in failed if d.id in due]
            n = _write(engine, conn, version, docs, rows, failed)
        if n == 0:
            return -1  # encoded meanwhile by another process: not an empty backlog
    else:
        with write_tx(engine) as conn:
            claim = claim_encoder_backlog(conn, engine, version, batch_size, priority)
            if not claim:
                return 0
            rows, failed = _encode(tagger, claim.rows)
            n = _write(engine, conn, version, claim.rows, rows, failed)
    log.debug("encoded batch", extra={"documents": n, "class": claim.klass})
    return n


def encode_backlog(
    engine: Engine,
    tagger: EncoderTagger,
    batch_size: int = 32,
    max_docs: int | None = None,
    priority: Priority | None = None,
) -> int:
    """Encode until the backlog is empty (or ``max_docs`` reached); returns documents done."""
    done = 0
    while max_docs is None or done < max_docs:
        size = batch_size if max_docs is None else min(batch_size, max_docs - done)
        n = encode_batch(engine, tagger, size, priority)
        if n == 0:
            break
        done += max(n, 0)
    return done
