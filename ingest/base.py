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
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass
class FetchBatch:
    """A batch of items and the cursor that is valid once they are stored."""

    items: list[RawItem]
    cursor: dict[str, Any]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item reference, reason)


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
