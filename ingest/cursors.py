"""Helpers for source cursors: JSON-safe timestamps, a bounded window of seen ids, stable ids.

A cursor is a plain JSON object persisted with each batch. Sources keep keys they do not own
(``imports`` written by ``sensing import`` into the same row, for instance) by starting from
``dict(cursor)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

SEEN_LIMIT = 2000
MAX_ID_LENGTH = 200


def to_iso(value: datetime | None) -> str | None:
    """An aware datetime as an ISO string in UTC (None stays None)."""
    return None if value is None else value.astimezone(UTC).isoformat()


def from_iso(value: Any) -> datetime | None:
    """Read back what :func:`to_iso` wrote."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def stable_id(value: Any) -> str:
    """An external id that fits the column: long ids become ``sha1:<hex>``."""
    text = str(value).strip()
    if len(text) <= MAX_ID_LENGTH:
        return text
    return "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest()


def remember(seen: Iterable[str], new: Iterable[str], limit: int = SEEN_LIMIT) -> list[str]:
    """Append ``new`` ids to ``seen`` (no repeats), keeping the newest ``limit``."""
    out = list(dict.fromkeys([*seen, *new]))
    return out[-limit:]


def merged(cursor: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``cursor`` with ``changes`` applied (keys owned by others are kept)."""
    out = dict(cursor)
    out.update(changes)
    return out
