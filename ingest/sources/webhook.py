"""Pushed items: an HTTP endpoint for systems that push rather than serve, and a durable spool.

Receiving (:mod:`ingest.sources.webhook_server`: a Starlette app served by uvicorn):
``POST <path>`` with ``Authorization: Bearer <token>`` (or ``X-Token``) and a JSON body: one
item, a list, or ``{"items": [...]}``. The token comes from the environment (``$env:NAME``) and
is compared in constant time. Bodies over ``max_body_bytes`` are refused with 413 while being
read. Each item needs text (``content`` or ``text``) or a ``title``; ``id`` is recommended (else
a hash of the item is used). Valid items are appended to the spool and acknowledged with 202
``{"accepted": n, "rejected": [{"index", "error"}]}``; the answer comes only after the append is
flushed to disk, so an acknowledged item survives a crash.

Spool (decided: files, not a table, so receiving works while the database is busy or down):
``<spool_dir>/incoming.jsonl`` is appended under an exclusive ``flock``. :meth:`WebhookSource.fetch`
seals it (renames it to ``seg-<ns>.jsonl`` under the same lock) and drains the sealed segments in
order; the cursor ``{"segment", "line"}`` says how far a segment is stored, and a segment is deleted
only after its last batch is committed. A line that cannot be used (invalid JSON, a field of the
wrong type) or stored is dead-lettered as ``<segment>:<line>``, and the line itself is kept in
``<spool_dir>/dead/`` so ``sensing deadletter retry`` can read it again after a fix.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.base import (
    CHANNELS,
    FatalSourceError,
    FetchBatch,
    Health,
    InvalidItemError,
    RawItem,
    Rejected,
    Source,
    SourceOptions,
)
from ingest.cursors import merged, stable_id
from ingest.dates import parse_datetime
from ingest.sources.webhook_guard import ReceiverOptions
from kernel.errors import describe_error
from storage.permissions import make_private_dir, open_private

INCOMING = "incoming.jsonl"
DEAD = "dead"


class WebhookOptions(SourceOptions, ReceiverOptions):
    """Options of a ``webhook`` source."""

    token: str = Field(description="shared secret reference: $env:NAME or $file:PATH")
    host: str = Field(default="127.0.0.1", description="bind address of the receiving endpoint")
    port: int = Field(default=8765, ge=0, le=65535, description="port of the receiving endpoint")
    path: str = Field(default="/push", description="URL path items are POSTed to")
    max_body_bytes: int = Field(
        default=1_000_000, ge=1024, le=100_000_000, description="largest request body"
    )
    max_items: int = Field(default=1000, ge=1, le=100_000, description="most items per request")
    spool_dir: str | None = Field(default=None, description="spool folder (default <data_dir>/spool/<name>)")
    batch_size: int = Field(default=500, ge=1, le=50_000)

    @field_validator("token")
    @classmethod
    def _secret_ref(cls, v: str) -> str:
        if not v.startswith(("$env:", "$file:")):
            raise ValueError("a secret reference '$env:NAME' or '$file:PATH', never a literal token")
        return v

    @field_validator("path")
    @classmethod
    def _slash(cls, v: str) -> str:
        return v if v.startswith("/") else "/" + v


class PushedItem(BaseModel):
    """One pushed item; unknown keys are kept in ``extra``."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = None
    content: str | None = None
    text: str | None = None
    title: str | None = None
    url: str | None = None
    published_at: str | int | float | None = None
    author: str | None = None
    channel: str | None = None
    region: str | None = None
    likes: int = Field(default=0, ge=0)
    reposts: int = Field(default=0, ge=0)
    comments: int = Field(default=0, ge=0)
    reads: int = Field(default=0, ge=0)
    reply: str | None = None
    replied_at: str | int | float | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is not None and v not in CHANNELS:
            raise ValueError(f"one of {list(CHANNELS)}")
        return v

    def has_text(self) -> bool:
        return any((v or "").strip() for v in (self.content, self.text, self.title))


class Spool:
    """An append-only JSON Lines spool with sealed segments."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock_path = folder / ".lock"

    def _locked(self) -> Any:
        make_private_dir(self.folder)  # pushed items are personal data: owner-only
        fh = open_private(self.lock_path, "a+")
        fcntl.flock(fh, fcntl.LOCK_EX)
        return fh

    def append(self, records: list[dict[str, Any]]) -> None:
        """Append records durably (flushed and fsync-ed before returning)."""
        # ASCII-escaped: a lone surrogate in a pushed string is kept as \udXXX (UTF-8 cannot hold
        # it) and removed when the line is read back (ingest.base.sanitize_item).
        data = "".join(json.dumps(r, default=str) + "\n" for r in records).encode("ascii")
        lock = self._locked()
        try:
            with open_private(self.folder / INCOMING, "ab") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            lock.close()

    def seal(self) -> None:
        """Turn the incoming file into a segment (nothing to do when it is empty)."""
        lock = self._locked()
        try:
            incoming = self.folder / INCOMING
            if incoming.exists() and incoming.stat().st_size > 0:
                incoming.replace(self.folder / f"seg-{time.time_ns():020d}.jsonl")
        finally:
            lock.close()

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("seg-*.jsonl")) if self.folder.is_dir() else []


def _problem(exc: Exception) -> str:
    """What is wrong with a line, without echoing its values (they may hold personal data)."""
    return describe_error(exc).partition(": ")[2] or type(exc).__name__


def _to_item(record: Any, tz: str) -> RawItem:
    if not isinstance(record, dict):
        raise InvalidItemError(f"a JSON object, got {type(record).__name__}")
    pushed = PushedItem.model_validate(record)
    known = set(PushedItem.model_fields)
    extra = {k: v for k, v in record.items() if k not in known and k != "received_at"}
    ident = pushed.id
    if ident is None or str(ident).strip() == "":
        basis = json.dumps(
            [pushed.title, pushed.content or pushed.text, pushed.published_at], ensure_ascii=False
        )
        ident = "sha1:" + hashlib.sha1(basis.encode("utf-8")).hexdigest()
    received = parse_datetime(record.get("received_at"), tz="UTC")
    published = parse_datetime(pushed.published_at, tz=tz, now=received) if pushed.published_at else None
    return RawItem(
        external_id=stable_id(ident),
        content=pushed.content or pushed.text or "",
        title=pushed.title,
        url=pushed.url,
        published_at=published,
        author=pushed.author,
        channel=pushed.channel,
        region_hint=pushed.region,
        likes=pushed.likes,
        reposts=pushed.reposts,
        comments=pushed.comments,
        reads=pushed.reads,
        reply=pushed.reply,
        replied_at=parse_datetime(pushed.replied_at, tz=tz) if pushed.replied_at else None,
        extra=extra,
    )


class WebhookSource(Source):
    """Items pushed to our endpoint, drained from the spool."""

    kind: ClassVar[str] = "webhook"
    options_model: ClassVar[type[SourceOptions]] = WebhookOptions
    default_channel: ClassVar[str] = "social"

    options: WebhookOptions
    data_dir: Path = Path("var")

    @classmethod
    def app_defaults(cls, name: str, data_dir: str) -> dict[str, Any]:
        """Option defaults that depend on the application settings."""
        return {"spool_dir": str(Path(data_dir) / "spool" / name)}

    @property
    def spool(self) -> Spool:
        folder = self.options.spool_dir or str(self.data_dir / "spool" / self.name)
        return Spool(Path(folder))

    def token(self) -> str:
        from kernel.settings import resolve_secret

        value = resolve_secret(self.options.token)
        if not value:
            raise FatalSourceError(f"webhook {self.name}: token {self.options.token} is not set")
        return value

    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        spool = self.spool
        spool.seal()
        self._raw: dict[str, str] = {}  # ref -> line, for the batch being stored (dead letters)
        for segment in spool.segments():
            start = int(cursor.get("line", 0)) if cursor.get("segment") == segment.name else 0
            items: list[RawItem] = []
            rejected: list[Rejected] = []
            line_no = 0
            with segment.open("r", encoding="utf-8", errors="replace") as fh:
                for line_no, line in enumerate(fh, start=1):  # noqa: B007 - line_no used below
                    if line_no <= start or not line.strip():
                        continue
                    ref = f"{segment.name}:{line_no}"
                    self._raw[ref] = line
                    try:
                        item = _to_item(json.loads(line), self.timezone)
                    except Exception as exc:  # noqa: BLE001 - any unusable line is dead-lettered
                        reason = "invalid_spool_line"
                        rejected.append(Rejected(ref, reason, type(exc).__name__, _problem(exc)))
                    else:
                        item.origin = ref
                        items.append(item)
                    if len(items) + len(rejected) >= self.options.batch_size:
                        cur = merged(cursor, segment=segment.name, line=line_no)
                        yield FetchBatch(items, cur, rejected=rejected)
                        items, rejected = [], []
                        self._raw = {}
            cur = merged(cursor, segment=segment.name, line=max(line_no, start))
            yield FetchBatch(items, cur, rejected=rejected)
            self._raw = {}
            segment.unlink(missing_ok=True)  # resumed: the segment's last batch is committed
            cursor = merged(cursor, segment=None, line=0)

    def keep_for_retry(self, ref: str) -> dict[str, Any] | None:
        """Copy the spool line ``ref`` to ``<spool_dir>/dead/`` (flushed to disk) for a retry."""
        line = getattr(self, "_raw", {}).get(ref)
        if line is None:
            return None
        folder = self.spool.folder / DEAD
        folder.mkdir(parents=True, exist_ok=True)
        name = ref.replace(":", "-") + ".json"
        with (folder / name).open("w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        return {"spool_file": f"{DEAD}/{name}"}

    def _dead_path(self, locator: dict[str, Any]) -> Path:
        name = Path(str(locator.get("spool_file", ""))).name
        if not name:
            raise InvalidItemError("this dead letter has no spool file")
        return self.spool.folder / DEAD / name

    def reread(self, locator: dict[str, Any]) -> RawItem:
        path = self._dead_path(locator)
        if not path.is_file():
            raise InvalidItemError(f"{path.name} is no longer in the spool's dead folder")
        line = path.read_text(encoding="utf-8", errors="replace")
        try:
            item = _to_item(json.loads(line), self.timezone)
        except Exception as exc:  # noqa: BLE001 - still unusable: say why
            raise InvalidItemError(f"{type(exc).__name__}: {_problem(exc)}") from None
        item.origin = path.stem
        return item

    def forget_retry(self, locator: dict[str, Any]) -> None:
        self._dead_path(locator).unlink(missing_ok=True)

    def check(self) -> Health:
        try:
            self.token()
            spool = self.spool
            make_private_dir(spool.folder)
        except (FatalSourceError, OSError) as exc:
            return Health(ok=False, detail=str(exc))
        pending = len(spool.segments()) + int((spool.folder / INCOMING).exists())
        return Health(ok=True, detail=f"spool {spool.folder}: {pending} file(s) waiting")
