"""Streaming readers for the files people hand us: CSV, XLSX, JSON and JSON Lines, gzip or not.

:func:`open_table` returns a :class:`Table` with the column names (for preset detection) and an
iterator of :class:`Record` in file order, each numbered as a person would find it: the sheet row
or the file line (header = row 1). CSV text is read as UTF-8 (BOM or not) and falls back to
GB18030 (a superset of GBK/GB2312) when the start of the file is not UTF-8. A JSON Lines line
that is not a JSON object becomes a record with an ``error`` instead of stopping the read.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson

log = logging.getLogger(__name__)

SUPPORTED = (".csv", ".tsv", ".xlsx", ".xlsm", ".json", ".jsonl", ".ndjson")
_SNIFF_BYTES = 256 * 1024
_ITEM_KEYS = ("items", "data", "records", "rows", "results", "list")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _loads(data: bytes | str) -> Any:
    """:func:`json.loads`, parsed by orjson when it can (several times faster on big imports).

    orjson reads strict UTF-8 JSON only; anything else it refuses (NaN, integers past 64 bits,
    other encodings, lone surrogates) goes to :func:`json.loads`, which accepts or reports it.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class TableError(ValueError):
    """The file cannot be read at all (unknown type, corrupt workbook, invalid JSON document)."""


@dataclass
class Record:
    """One row: its number in the file and its values, or why it could not be read."""

    row: int
    data: dict[str, Any] | None
    error: str | None = None


@dataclass
class Table:
    """An opened file: columns, records, and how far through the file reading is."""

    path: Path
    kind: str
    columns: list[str]
    records: Iterator[Record]
    total: int  # bytes for text files, rows for workbooks
    encoding: str | None = None
    _position: Any = field(default=None, repr=False)
    _closers: list[Any] = field(default_factory=list, repr=False)

    def position(self) -> int:
        """Progress in the unit of :attr:`total`."""
        return int(self._position()) if self._position else 0

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def file_kind(path: Path) -> tuple[str, bool]:
    """(``csv`` | ``tsv`` | ``xlsx`` | ``json`` | ``jsonl``, gzipped?) from the file name."""
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for suffix in SUPPORTED:
        if name.endswith(suffix):
            kind = suffix[1:]
            return {"xlsm": "xlsx", "ndjson": "jsonl"}.get(kind, kind), gz
    raise TableError(
        f"{path.name}: unsupported file type; expected one of {', '.join(SUPPORTED)} (optionally .gz)"
    )


def _open_binary(path: Path, gz: bool) -> tuple[IO[bytes], IO[bytes]]:
    raw: IO[bytes] = path.open("rb")
    if not gz:
        return raw, raw
    return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw


def sniff_encoding(sample: bytes) -> str:
    """``utf-8-sig`` if the sample decodes as UTF-8, else ``gb18030`` if that decodes, else UTF-8."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)("strict").decode(sample, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    return "utf-8-sig"


def _open_csv(path: Path, gz: bool, delimiter: str) -> Table:
    stream, raw = _open_binary(path, gz)
    try:
        sample = stream.read(_SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raw.close()
        raise TableError(f"{path.name}: cannot read ({exc})") from None
    encoding = sniff_encoding(sample)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        header = []
    except (OSError, EOFError, csv.Error) as exc:
        raw.close()
        raise TableError(f"{path.name}: cannot read the header ({exc})") from None
    columns = [h.strip().lstrip("\ufeff") for h in header]

    def records() -> Iterator[Record]:
        width = len(columns)
        try:
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                if len(values) > width:
                    yield Record(reader.line_num, None, f"{len(values)} fields where the header has {width}")
                    continue
                yield Record(reader.line_num, dict(zip(columns, values, strict=False)))
        except (OSError, EOFError, csv.Error) as exc:  # truncated gzip, NUL bytes ...
            yield Record(reader.line_num + 1, None, f"file ends in error: {exc}")

    size = path.stat().st_size
    return Table(path, "csv", columns, records(), size, encoding, raw.tell, [text, stream, raw])


def _open_xlsx(path: Path, gz: bool) -> Table:
    import openpyxl

    source: Any = path
    if gz:
        with gzip.open(path, "rb") as fh:
            source = io.BytesIO(fh.read())
    try:
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zipfile, XML and openpyxl errors alike
        raise TableError(f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header: list[str] = []
    header_row = 0
    for header_row, values in enumerate(rows, start=1):  # noqa: B007 - header_row used below
        if values and any(v is not None and str(v).strip() for v in values):
            header = ["" if v is None else str(v).strip() for v in values]
            break
    state = {"row": header_row}

    def records() -> Iterator[Record]:
        try:
            for values in rows:
                state["row"] += 1
                if not values or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                data = {c: v for c, v in zip(header, values, strict=False) if c}
                yield Record(state["row"], data)
        except Exception as exc:  # noqa: BLE001 - a damaged sheet part
            yield Record(state["row"] + 1, None, f"sheet ends in error: {type(exc).__name__}: {exc}")

    total = sheet.max_row or 0
    return Table(path, "xlsx", [c for c in header if c], records(), total, None, lambda: state["row"], [book])


def items_of(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in _ITEM_KEYS:
            value = document.get(key)
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                inner = items_of(value)
                if inner:
                    return inner
        return [document]
    return []


def _open_json(path: Path, gz: bool) -> Table:
    stream, raw = _open_binary(path, gz)
    try:
        data = stream.read()
    finally:
        raw.close()
    try:
        document = _loads(data.decode(sniff_encoding(data[:_SNIFF_BYTES])))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TableError(f"{path.name}: invalid JSON ({exc})") from None
    items = items_of(document)
    columns: dict[str, None] = {}
    for item in items[:200]:
        if isinstance(item, dict):
            columns.update(dict.fromkeys(item))
    state = {"i": 0}

    def records() -> Iterator[Record]:
        for i, item in enumerate(items, start=1):
            state["i"] = i
            if isinstance(item, dict):
                yield Record(i, item)
            else:
                yield Record(i, None, f"item {i} is not a JSON object")

    return Table(path, "json", list(columns), records(), len(items), None, lambda: state["i"])


def _open_jsonl(path: Path, gz: bool) -> Table:
    columns: dict[str, None] = {}
    stream, raw = _open_binary(path, gz)
    try:
        for n, line in enumerate(stream):
            if n >= 200:
                break
            try:
                item = _loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(item, dict):
                columns.update(dict.fromkeys(item))
    except (OSError, EOFError):
        pass
    finally:
        raw.close()
    stream, raw = _open_binary(path, gz)

    def records() -> Iterator[Record]:
        n = 0
        try:
            for n, line in enumerate(stream, start=1):  # noqa: B007 - n used after the loop
                if not line.strip():
                    continue
                try:
                    item = _loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    yield Record(n, None, f"invalid JSON: {exc}")
                    continue
                if isinstance(item, dict):
                    yield Record(n, item)
                else:
                    yield Record(n, None, "not a JSON object")
        except (OSError, EOFError) as exc:
            yield Record(n + 1, None, f"file ends in error: {exc}")

    size = path.stat().st_size
    return Table(path, "jsonl", list(columns), records(), size, "utf-8", raw.tell, [stream, raw])


def open_table(path: str | Path) -> Table:
    """Open a CSV, TSV, XLSX, JSON or JSON Lines file (each optionally gzipped).

    Raises:
        TableError: unknown type, unreadable workbook or invalid JSON document.
    """
    path = Path(path)
    kind, gz = file_kind(path)
    if kind in ("csv", "tsv"):
        return _open_csv(path, gz, "," if kind == "csv" else "\t")
    if kind == "xlsx":
        return _open_xlsx(path, gz)
    if kind == "json":
        return _open_json(path, gz)
    return _open_jsonl(path, gz)
