"""Acting on dead letters: ``sensing deadletter list | retry ID | drop ID``.

A retry reads the item again from where its source kept it (the webhook spool's ``dead/`` folder,
the drop file in ``quarantine/``, the imported file) and runs it through the same write path as a
fetched batch, without moving the source's cursor. Stored: the dead letter is closed as
``retried``. Still failing: it stays open with one more attempt and the new error. A document the
NLP worker could not tag is retried by removing its failure mark: the worker tags it again; one the
encoder tier could not encode goes back into the encoder's backlog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.base import FetchBatch, InvalidItemError, RetryUnsupportedError, Source
from ingest.pii import mask_pii
from ingest.pipeline import Ingestor
from ingest.run_report import RunReport
from kernel.settings import Settings
from storage.dead_letters import (
    get_dead_letter,
    record_attempt,
    reopen_document,
    resolve_dead_letter,
)
from storage.encodings import DEAD_LETTER_KIND, reopen_encoding
from storage.store import Store


@dataclass
class RetryOutcome:
    """What a retry did."""

    ok: bool
    new: int = 0
    message: str = ""


def retry_dead_letter(store: Store, ingestor: Ingestor, source: Source | None, dead_id: int) -> RetryOutcome:
    """Read dead letter ``dead_id`` again through ``source`` and store it (see the module text)."""
    dead = get_dead_letter(store.engine, dead_id)
    if dead is None:
        raise KeyError(f"no dead letter {dead_id}")
    if dead["status"] != "open":
        return RetryOutcome(False, message=f"dead letter {dead_id} is already {dead['status']}")
    if dead["kind"] == "document":
        reopen_document(store.engine, int(dead["document_id"]))
        resolve_dead_letter(store.engine, dead_id, "retried")
        return RetryOutcome(True, message=f"document {dead['document_id']} will be tagged again")
    if dead["kind"] == DEAD_LETTER_KIND:
        reopen_encoding(store.engine, int(dead["document_id"]))
        resolve_dead_letter(store.engine, dead_id, "retried")
        return RetryOutcome(True, message=f"document {dead['document_id']} will be encoded again")
    if source is None:
        return RetryOutcome(False, message=f"source {dead['source']} is not configured")
    locator: dict[str, Any] = dead["locator"] or {}
    try:
        item = source.reread(locator)
    except RetryUnsupportedError as exc:
        return RetryOutcome(False, message=str(exc))
    except InvalidItemError as exc:
        record_attempt(store.engine, dead_id, type(exc).__name__, mask_pii(str(exc)))
        return RetryOutcome(False, message=f"still failing: {exc}")
    item.origin = dead["ref"]  # a new failure updates this dead letter instead of adding one
    report = RunReport(source=source.name)
    source_id = store.ensure_source(source.name, dead["source_kind"], source.channel)
    ingestor.write_batch(source, source_id, FetchBatch([item], cursor=None), report)  # type: ignore[arg-type]
    if report.dead_lettered:
        again = get_dead_letter(store.engine, dead_id) or {}
        return RetryOutcome(
            False, message=f"still failing: {again.get('error_class')}: {again.get('message')}"
        )
    resolve_dead_letter(store.engine, dead_id, "retried")
    source.forget_retry(locator)
    stored = "stored" if report.new else "already stored"
    return RetryOutcome(True, new=report.new, message=f"{dead['ref']}: {stored}")


def source_for(settings: Settings, dead: dict[str, Any]) -> Source | None:
    """The source that can read ``dead`` again: the configured one, or the imported file's."""
    from ingest.runner import configured_source

    for src in settings.sources:
        if src.name == dead["source"]:
            return configured_source(settings, src)
    locator = dead.get("locator") or {}
    if locator.get("kind") == "file_import":
        from ingest.file_import import FileImportSource

        options = FileImportSource.options_model.model_validate({"path": locator["path"]})
        return FileImportSource(dead["source"], options, timezone=settings.app.timezone)
    return None
