"""Field mappings: turn one record (a CSV/XLSX row or a JSON object) into a :class:`RawItem`.

A :class:`FieldMap` names, for each item field, where its value is: a column name or a dotted
path into nested JSON (``data.user.name``), or a list of them (the first non-empty wins).
``external_id`` may join several columns (``snapshot_hour|position``). A value that is present
but unreadable (a date that is not one, ``"abc"`` likes) raises :class:`RowError` naming the
column, so file sources can say which row and column are at fault.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.base import CHANNELS, RawItem
from ingest.cursors import stable_id
from ingest.dates import parse_datetime

Path = str | list[str]

_COUNT_RE = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(万|亿|w|k)?\+?\s*$", re.IGNORECASE)
_MULTIPLIERS = {None: 1, "万": 10_000, "w": 10_000, "亿": 100_000_000, "k": 1000}


class RowError(ValueError):
    """One record has an unreadable value in ``column``."""

    def __init__(self, column: str, kind: str, message: str) -> None:
        super().__init__(f"column {column!r}: {message}")
        self.column = column
        self.kind = kind
        self.message = message


class FieldMap(BaseModel):
    """Where each item field comes from. Unmapped fields stay empty."""

    model_config = ConfigDict(extra="forbid")

    external_id: list[str] = Field(default_factory=list, description="id columns, joined with '|'")
    id_scope: Literal["global", "file"] = Field(
        default="global", description="'file': prefix ids with the file name"
    )
    content: Path | None = Field(default=None, description="body text")
    title: Path | None = None
    url: Path | None = None
    published_at: Path | None = None
    author: Path | None = None
    channel: Path | None = None
    region_hint: Path | None = None
    likes: Path | None = None
    reposts: Path | None = None
    comments: Path | None = None
    reads: Path | None = None
    reply: Path | None = None
    replied_at: Path | None = None
    extra: dict[str, Path] = Field(default_factory=dict, description="extra key -> column")

    def columns(self) -> set[str]:
        """Every column or path named by this map."""
        names: set[str] = set(self.external_id)
        for key, value in self:
            if key in ("external_id", "id_scope"):
                continue
            values = value.values() if isinstance(value, dict) else [value]
            for v in values:
                if v:
                    names.update([v] if isinstance(v, str) else v)
        return names


_ABSENT = object()


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def get_path(record: Mapping[str, Any], path: str) -> Any:
    """The value at ``path``: a key of ``record`` or a dotted path through dicts and list indices."""
    value = record.get(path, _ABSENT)
    if value is not _ABSENT:
        return value
    if "." not in path:
        return None
    node: Any = record
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def first_value(record: Mapping[str, Any], path: Path | None) -> tuple[str | None, Any]:
    """(column, value) of the first non-empty path, or (first column, None)."""
    if not path:
        return None, None
    paths = (path,) if isinstance(path, str) else path
    for p in paths:
        value = get_path(record, p)
        if not _missing(value):
            return p, value
    return paths[0], None


def as_text(value: Any) -> str | None:
    """A cell as text: integral floats lose their ``.0``, everything else is ``str``-ed."""
    if _missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_count(value: Any, column: str) -> int:
    """An engagement count: ints, integral floats, ``"1,234"``, ``"1.2万"``; empty is 0."""
    if _missing(value):
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise RowError(column, "invalid_number", f"not a count: {value!r}")
        return max(0, int(value))
    match = _COUNT_RE.match(str(value))
    if not match:
        raise RowError(column, "invalid_number", f"not a count: {str(value)[:40]!r}")
    number = float(match.group(1).replace(",", ""))
    unit = match.group(2).lower() if match.group(2) else None
    return round(number * _MULTIPLIERS[unit])


def as_datetime(value: Any, column: str, tz: str, now: datetime | None = None) -> datetime | None:
    """A timestamp in UTC; empty is None, unreadable raises :class:`RowError`."""
    if _missing(value):
        return None
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-" and value[:4].isdigit():
        try:  # ISO 8601, the common case in exports: skip the general parser
            fast = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parse_datetime(fast, tz=tz)
    parsed = parse_datetime(value, tz=tz, now=now)
    if parsed is None:
        raise RowError(column, "invalid_date", f"not a date: {str(value)[:40]!r}")
    return parsed


def _extra_value(value: Any) -> Any:
    if _missing(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | float | bool | list | dict):
        return value
    return str(value)


def record_to_item(
    record: Mapping[str, Any],
    fields: FieldMap,
    *,
    fallback_id: str,
    file_key: str | None = None,
    tz: str = "Asia/Shanghai",
    now: datetime | None = None,
) -> RawItem:
    """Build an item from ``record``; raises :class:`RowError` for an unreadable value.

    ``fallback_id`` (e.g. ``file:row``) is used when the map names no id column.
    """
    if fields.external_id:
        parts = []
        for column in fields.external_id:
            text = as_text(get_path(record, column))
            if text is None:
                raise RowError(column, "missing_id", "the id is empty")
            parts.append(text.strip())
        ext = "|".join(parts)
        if fields.id_scope == "file" and file_key:
            ext = f"{file_key}:{ext}"
    else:
        ext = fallback_id
    _, content = first_value(record, fields.content)
    pub_col, pub = first_value(record, fields.published_at)
    rep_col, rep_at = first_value(record, fields.replied_at)
    item = RawItem(external_id=stable_id(ext), content=as_text(content) or "")
    item.title = as_text(first_value(record, fields.title)[1])
    item.url = as_text(first_value(record, fields.url)[1])
    item.author = as_text(first_value(record, fields.author)[1])
    item.region_hint = as_text(first_value(record, fields.region_hint)[1])
    item.reply = as_text(first_value(record, fields.reply)[1])
    channel = (as_text(first_value(record, fields.channel)[1]) or "").strip().lower()
    item.channel = channel if channel in CHANNELS else None
    item.published_at = as_datetime(pub, pub_col or "published_at", tz, now)
    item.replied_at = as_datetime(rep_at, rep_col or "replied_at", tz, now)
    for name in ("likes", "reposts", "comments", "reads"):
        count_col, value = first_value(record, getattr(fields, name))
        setattr(item, name, as_count(value, count_col or name))
    for key, path in fields.extra.items():
        value = _extra_value(first_value(record, path)[1])
        if value is not None:
            item.extra[key] = value
    return item


@dataclass
class MappedRecord:
    """One record of a file after mapping: an item, or why it was refused."""

    index: int  # 0-based position among the file's records (for resuming)
    row: int  # row or line number as a person would find it
    item: RawItem | None = None
    reason: str | None = None  # skip reason, e.g. "invalid_date:留言时间"
    message: str | None = None  # human text naming row and column
    fatal: bool = False  # the file is refused from this record on; no records follow


def map_records(
    records: Iterable[Any],
    fields: FieldMap,
    *,
    file_key: str,
    tz: str = "Asia/Shanghai",
    now: datetime | None = None,
    skip: int = 0,
    unit: str = "row",
) -> Iterator[MappedRecord]:
    """Map the records of a :class:`ingest.tabular.Table`; the first ``skip`` are passed over.

    ``unit`` names what a record's number counts in messages (``Table.unit``: line, row, item).
    """
    for index, record in enumerate(records):
        if index < skip and not getattr(record, "fatal", False):
            continue
        if record.data is None:
            fatal = bool(getattr(record, "fatal", False))
            yield MappedRecord(
                index,
                record.row,
                reason="unreadable_rest" if fatal else "unreadable_row",
                message=f"{unit} {record.row}: {record.error}",
                fatal=fatal,
            )
            continue
        try:
            item = record_to_item(
                record.data, fields, fallback_id=f"{file_key}:{record.row}", file_key=file_key, tz=tz, now=now
            )
        except RowError as exc:
            yield MappedRecord(
                index,
                record.row,
                reason=f"{exc.kind}:{exc.column}",
                message=f"{unit} {record.row}, column {exc.column}: {exc.message}",
            )
            continue
        yield MappedRecord(index, record.row, item=item)
