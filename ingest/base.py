"""The source interface: what every collector implements.

A source declares its ``kind`` and an options model, and overrides one generator,
:meth:`Source.fetch`, which yields batches of :class:`RawItem` together with the cursor to
persist once that batch is stored. The store writes a batch and its cursor in one transaction,
so a crash never loses or duplicates items: a restart resumes from the last committed cursor.

Exception tree::

    SourceError                 any failure of a source
    ├── FatalSourceError        configuration or authentication is wrong: stop this run
    ├── RetriableSourceError    the remote end failed (5xx, 429, time-out, refused): retry later
    └── SkippableItemError      one item is malformed: skip it, count it, carry on
        └── InvalidItemError    one item cannot be stored as it is: dead-letter it, carry on

Every item is normalised at this boundary (:func:`sanitize_item`) before anything else reads it:
NUL characters and lone surrogates go from every text (PostgreSQL and UTF-8 refuse them), counts
are clamped to their column, ``flags`` becomes a list of strings, ``extra`` becomes plain JSON.
An item that still cannot be stored is set aside as a dead letter with :attr:`RawItem.origin`
(file and row, spool line, page and position), never failing its batch.
"""

from __future__ import annotations

import logging
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

CHANNELS: tuple[str, ...] = ("social", "news", "hotline", "gov")


class SourceError(Exception):
    """Any failure of a source."""


class FatalSourceError(SourceError):
    """Wrong configuration or credentials: retrying will not help."""


class RetriableSourceError(SourceError):
    """A transient remote failure (HTTP 5xx/429, time-out, connection refused)."""


class SkippableItemError(SourceError):
    """One item cannot be used; it is skipped and counted with this reason."""


class InvalidItemError(SkippableItemError):
    """An item that cannot be stored as it is (a field of the wrong shape); it is dead-lettered."""


class RetryUnsupportedError(SourceError):
    """This source cannot read a dead-lettered item again."""


class SourceOptions(BaseModel):
    """Base of every source's options model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class RawItem:
    """One item as fetched, before cleaning, masking and de-duplication."""

    external_id: str
    content: str
    title: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    author: str | None = None
    channel: str | None = None
    region_hint: str | None = None
    likes: int = 0
    reposts: int = 0
    comments: int = 0
    reads: int = 0
    reply: str | None = None
    replied_at: datetime | None = None
    simulated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # where the item is: "file.csv:12", "seg-….jsonl:4", "page 2 item 7"


@dataclass
class Rejected:
    """An item the source could read but not use (bad JSON line, unreadable value): dead-lettered."""

    ref: str  # file and row, spool segment and line ...
    reason: str  # counted in the run's skip reasons, e.g. "invalid_date:受理时间"
    error_class: str
    message: str


@dataclass
class FetchBatch:
    """A batch of items and the cursor that is valid once they are stored."""

    items: list[RawItem]
    cursor: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item reference, reason)
    rejected: list[Rejected] = field(default_factory=list)


# -- normalisation at the source boundary --------------------------------------------------------

#: Column limits: likes, reposts and comments are 32-bit, reads 64-bit.
COUNT_LIMITS = {"likes": 2**31 - 1, "reposts": 2**31 - 1, "comments": 2**31 - 1, "reads": 2**63 - 1}
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TEXT_FIELDS = ("external_id", "content", "title", "url", "author", "channel", "region_hint", "reply")
_MAX_DEPTH = 32


def clean_text(value: str) -> str:
    """``value`` without NUL characters and lone surrogates (which no database stores)."""
    return _UNSTORABLE.sub("", value) if _UNSTORABLE.search(value) else value


def _count(name: str, value: Any) -> int:
    if type(value) is not int:
        if isinstance(value, bool) or value is None:
            value = int(value or 0)
        elif isinstance(value, float) and math.isfinite(value):
            value = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        elif not isinstance(value, int):
            raise InvalidItemError(f"{name}: not a count: {str(value)[:40]!r}")
    return min(max(value, 0), COUNT_LIMITS[name])


def _time(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidItemError(f"{name}: not a time: {str(value)[:40]!r}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _flags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str | int | float | bool):
        return [clean_text(str(value))]
    if isinstance(value, list | tuple):
        out = []
        for flag in value:
            if isinstance(flag, list | tuple | dict):
                raise InvalidItemError(f"flags: a list of words, got a nested {type(flag).__name__}")
            if flag is not None:
                out.append(clean_text(str(flag)))
        return out
    raise InvalidItemError(f"flags: a list of words, got {type(value).__name__}")


def plain_json(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON both databases store: clean strings and keys, no NaN or infinity,
    anything else (dates, bytes, sets) as its text; nesting deeper than 32 levels becomes text."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= _MAX_DEPTH:
        return clean_text(str(value))[:1000]
    if isinstance(value, dict):
        return {clean_text(str(k)): plain_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v, depth + 1) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return clean_text(str(value))


def sanitize_item(item: RawItem) -> RawItem:
    """Normalise every field of ``item`` in place so the store accepts it; returns it.

    Texts lose NUL characters and lone surrogates (a non-text value becomes its text), counts are
    clamped to their column (negative is 0), naive times are taken as UTC, ``flags`` in ``extra``
    becomes a list of words and ``extra`` plain JSON.

    Raises:
        InvalidItemError: a field that cannot be made storable (a count that is not a number, a
            time that is not a time, flags that are a mapping).
    """
    for name in _TEXT_FIELDS:
        value = getattr(item, name)
        if value is None:
            continue
        if type(value) is not str:
            if name in ("external_id", "content"):
                value = "" if isinstance(value, dict | list) else str(value)
            else:
                value = None if isinstance(value, dict | list) else str(value)
            if value is None:
                setattr(item, name, None)
                continue
        setattr(item, name, clean_text(value))
    for name in COUNT_LIMITS:
        setattr(item, name, _count(name, getattr(item, name)))
    item.published_at = _time("published_at", item.published_at)
    item.replied_at = _time("replied_at", item.replied_at)
    item.simulated = bool(item.simulated)
    if item.extra:
        if not isinstance(item.extra, dict):
            raise InvalidItemError(f"extra: a mapping, got {type(item.extra).__name__}")
        extra = plain_json(item.extra)
        if "flags" in extra:
            flags = _flags(item.extra["flags"])
            if flags:
                extra["flags"] = flags
            else:
                del extra["flags"]
        item.extra = extra
    elif item.extra is None:
        item.extra = {}
    return item


@dataclass
class Health:
    """Result of a cheap reachability probe."""

    ok: bool
    detail: str = ""


class Source(ABC):
    """A collector of items from one place.

    Subclasses set ``kind`` and ``options_model`` and implement :meth:`fetch`.
    """

    kind: ClassVar[str]
    options_model: ClassVar[type[SourceOptions]] = SourceOptions
    default_channel: ClassVar[str] = "social"
    simulated: ClassVar[bool] = False  # makes its items up: the built-in author key may serve it

    def __init__(
        self,
        name: str,
        options: SourceOptions,
        *,
        channel: str | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.name = name
        self.options = options
        self.channel = channel or self.default_channel
        self.timezone = timezone
        self.log = logging.getLogger(f"ingest.source.{name}")

    @abstractmethod
    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        """Yield batches of new items since ``cursor`` (an empty dict on the first run)."""

    def check(self) -> Health:
        """Probe the source cheaply; the default says nothing is known."""
        return Health(ok=True, detail="no probe for this kind")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients, servers)."""

    def keep_for_retry(self, ref: str) -> dict[str, Any] | None:
        """Called for each item about to be dead-lettered (``ref`` is its origin), before its batch
        commits: keep what is needed to read it again and return how to find it (the dead letter's
        ``locator``), or None when it cannot be read again. The default keeps nothing."""
        return None

    def reread(self, locator: dict[str, Any]) -> RawItem:
        """Read a dead-lettered item again from what :meth:`keep_for_retry` returned.

        Raises:
            RetryUnsupportedError: this kind of source cannot (the default).
            InvalidItemError: the item is still unusable.
        """
        raise RetryUnsupportedError(f"a {self.kind} source cannot read an item again")

    def forget_retry(self, locator: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """The dead letter at ``locator`` is closed (stored or dropped): release what was kept."""
