"""Streaming readers for the files people hand us: CSV, XLSX, JSON and JSON Lines, gzip or not.

:func:`open_table` returns a :class:`Table` with the column names (for preset detection) and an
iterator of :class:`Record` in file order, each numbered as a person would find it: the sheet row
or the file line (header = row 1). CSV text is read as UTF-8 (BOM or not) and falls back to
GB18030 (a superset of GBK/GB2312) when the start of the file is not UTF-8; it is decoded strictly,
so a line that does not decode is an error, never U+FFFD. A row that cannot be read (a JSON Lines
line that is not a JSON object, an over-long field) becomes a record with an ``error`` instead of
stopping the read; an error after which the rest of the file is ambiguous (an unclosed CSV quote)
is a last record marked ``fatal``. What each limit costs is set out in :mod:`ingest.read_limits`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import logging
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson

from ingest.read_limits import (
    CrLineStream,
    LimitError,
    LineReader,
    bad_bytes_line,
    bounded_lines,
    check_gzip,
    check_value,
    check_zip,
    deep_line,
    undecodable,
)
from kernel.settings import ImportSettings

log = logging.getLogger(__name__)

SUPPORTED = (".csv", ".tsv", ".xlsx", ".xlsm", ".json", ".jsonl", ".ndjson")
_SNIFF_BYTES = 256 * 1024
_ITEM_KEYS = ("items", "data", "records", "rows", "results", "list")
_NON_ASCII = re.compile("[^\x00-\x7f]")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # rows are bounded by LineReader instead


def _loads(data: bytes | str) -> Any:
    """:func:`json.loads`, parsed by orjson when it can (several times faster on big imports).

    orjson reads strict UTF-8 JSON only; anything else it refuses (NaN, integers past 64 bits,
    other encodings, lone surrogates) goes to :func:`json.loads`, which accepts or reports it.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except RecursionError:  # nested past the interpreter's stack: past any depth limit too
            raise JsonDepthError("nested too deeply to parse") from None


class JsonDepthError(ValueError):
    """A JSON value is nested too deeply to parse at all."""


class TableError(ValueError):
    """The file cannot be read at all (unknown type, corrupt workbook, invalid JSON document)."""


@dataclass
class Record:
    """One row: its number in the file and its values, or why it could not be read."""

    row: int
    data: dict[str, Any] | None
    error: str | None = None
    fatal: bool = False  # the rest of the file is refused: this is the last record


@dataclass
class Table:
    """An opened file: columns, records, and how far through the file reading is."""

    path: Path
    kind: str
    columns: list[str]
    records: Iterator[Record]
    total: int  # bytes for text files, rows for workbooks
    encoding: str | None = None
    unit: str = "line"  # what ``Record.row`` counts: line, row (workbooks) or item (JSON documents)
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


def _checked_size(path: Path, gz: bool, limits: ImportSettings) -> int:
    """Bytes the file holds once decompressed; a gzip bomb or a damaged gzip is refused here."""
    if gz:
        return check_gzip(path, limits.max_decompressed_bytes)
    return path.stat().st_size


def sniff_encoding(sample: bytes) -> str:
    """``utf-8-sig`` unless the sample reads as GB18030 and shows no real sign of being UTF-8.

    UTF-8 is chosen whenever the sample has at least as many valid multi-byte UTF-8 characters as
    invalid byte sequences: a file mixing UTF-8 with a few GBK lines is then read as UTF-8 and the
    GBK lines are refused by name. Read as GB18030 instead, its UTF-8 lines would decode silently
    into mojibake (two UTF-8 Chinese characters are valid GB18030 bytes about one time in five).
    """
    try:
        codecs.getincrementaldecoder("utf-8-sig")("strict").decode(sample, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(sample, final=False)
    invalid = text.count("\ufffd")
    valid = len(_NON_ASCII.findall(text)) - invalid
    if valid >= invalid:
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("gb18030")("strict").decode(sample, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        return "utf-8-sig"


def _open_csv(path: Path, gz: bool, delimiter: str, limits: ImportSettings) -> Table:
    _checked_size(path, gz, limits)
    stream, raw = _open_binary(path, gz)
    try:
        sample = stream.read(_SNIFF_BYTES)
        encoding = sniff_encoding(sample)
        stream.seek(0)
    except (OSError, EOFError) as exc:
        raw.close()
        raise TableError(f"{path.name}: cannot read ({exc})") from None
    lines = LineReader(
        CrLineStream(stream) if b"\r" in sample and b"\n" not in sample else stream,
        encoding,
        limits.max_line_bytes,
    )
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader, [])
    except (LimitError, csv.Error, OSError, EOFError) as exc:
        raw.close()
        raise TableError(f"{path.name}: cannot read the header on line 1 ({exc})") from None
    if 1 in lines.bad:
        raw.close()
        raise TableError(f"{path.name}: the header cannot be read: {lines.bad[1]}")
    columns = [h.strip().lstrip("\ufeff") for h in header]
    max_chars = limits.max_field_chars

    def records() -> Iterator[Record]:
        width = len(columns)
        while True:
            lines.start_row()
            start = lines.row_start
            try:
                values = next(reader)
            except StopIteration:
                return
            except LimitError as exc:
                yield Record(start, None, f"{exc}; nothing from line {start} on was imported", fatal=True)
                return
            except csv.Error as exc:
                if lines.eof:  # strict mode: end of file inside a quoted field
                    yield Record(
                        start,
                        None,
                        f"a quote opened in the row starting on line {start} is never closed ({exc}); "
                        f"nothing from line {start} on was imported",
                        fatal=True,
                    )
                    return
                yield Record(lines.line_no, None, f"{_span(start, lines.line_no)}: malformed CSV ({exc})")
                continue
            except (OSError, EOFError) as exc:  # the file changed or broke after it was checked
                yield Record(start, None, f"file ends in error: {exc}", fatal=True)
                return
            row = lines.line_no
            if not any(v.strip() for v in values):
                continue
            bad = [lines.bad[n] for n in range(start, row + 1) if n in lines.bad]
            if bad:
                yield Record(row, None, "; ".join(bad))
                continue
            if len(values) > width:
                yield Record(row, None, f"{len(values)} fields where the header has {width}")
                continue
            if max(map(len, values)) > max_chars:
                at = next(i for i, v in enumerate(values) if len(v) > max_chars)
                yield Record(row, None, _too_long(columns[at], len(values[at]), max_chars))
                continue
            yield Record(row, dict(zip(columns, values, strict=False)))

    size = path.stat().st_size
    return Table(path, "csv", columns, records(), size, encoding, "line", raw.tell, [stream, raw])


def _span(start: int, end: int) -> str:
    return f"line {end}" if start == end else f"lines {start}-{end}"


def _too_long(column: str, length: int, max_chars: int) -> str:
    return f"column {column!r}: {length:,} characters, more than {max_chars:,} (imports.max_field_chars)"


def _open_xlsx(path: Path, gz: bool, limits: ImportSettings) -> Table:
    import openpyxl
    from openpyxl.utils.escape import unescape

    source: Any = path
    closers: list[Any] = []
    if gz:
        _checked_size(path, gz, limits)
        source = tempfile.TemporaryFile()  # noqa: SIM115 - closed with the table
        closers.append(source)
        with gzip.open(path, "rb") as fh:
            shutil.copyfileobj(fh, source, 1 << 20)
        source.seek(0)
    try:
        check_zip(source, limits.max_decompressed_bytes)
        if gz:
            source.seek(0)
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except LimitError as exc:
        for closer in closers:
            closer.close()
        raise TableError(f"{path.name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - zipfile, XML and openpyxl errors alike
        for closer in closers:
            closer.close()
        raise TableError(f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    closers.insert(0, book)
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header: list[str] = []
    header_row = 0
    for header_row, values in enumerate(rows, start=1):  # noqa: B007 - header_row used below
        if values and any(v is not None and str(v).strip() for v in values):
            header = ["" if v is None else str(v).strip() for v in values]
            break
    state = {"row": header_row}
    max_chars = limits.max_field_chars

    def records() -> Iterator[Record]:
        try:
            for values in rows:
                state["row"] += 1
                if not values or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                # Excel stores a carriage return (and other control characters) as "_x000D_": undo it.
                data = {
                    c: unescape(v) if isinstance(v, str) else v
                    for c, v in zip(header, values, strict=False)
                    if c
                }
                long = next((c for c, v in data.items() if isinstance(v, str) and len(v) > max_chars), None)
                if long is not None:
                    yield Record(state["row"], None, _too_long(long, len(data[long]), max_chars))
                    continue
                yield Record(state["row"], data)
        except Exception as exc:  # noqa: BLE001 - a damaged sheet part
            yield Record(
                state["row"] + 1, None, f"sheet ends in error: {type(exc).__name__}: {exc}", fatal=True
            )

    total = sheet.max_row or 0
    return Table(
        path,
        "xlsx",
        [c for c in header if c],
        records(),
        total,
        None,
        "row",
        lambda: state["row"],
        [*closers],
    )


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


def _open_json(path: Path, gz: bool, limits: ImportSettings) -> Table:
    size = _checked_size(path, gz, limits)
    if size > limits.max_json_document_bytes:
        raise TableError(
            f"{path.name}: a JSON document of {size >> 20:,} MB is more than {limits.max_json_document_mb} MB "
            "(imports.max_json_document_mb); split it into JSON Lines (one object per line)"
        )
    stream, raw = _open_binary(path, gz)
    try:
        data = stream.read(limits.max_json_document_bytes + 1)
    finally:
        raw.close()
    depth = limits.max_json_depth
    document: Any = None
    problem: str | None = "too deep to parse"
    try:
        document = _loads(data.decode(sniff_encoding(data[:_SNIFF_BYTES])))
    except UnicodeDecodeError as exc:
        raise TableError(f"{path.name}: {bad_bytes_line(data, exc)}: refused, nothing was read") from None
    except JsonDepthError:
        pass
    except json.JSONDecodeError as exc:
        raise TableError(f"{path.name}: invalid JSON ({exc}): refused, nothing was read") from None
    else:
        problem = check_value(document, depth)
    if problem is not None:
        line = deep_line(data, depth)
        where = f"line {line}" if line else "the document"
        raise TableError(
            f"{path.name}: {where}: JSON nested deeper than {depth} levels (imports.max_json_depth): "
            "refused, nothing was read"
        )
    items = items_of(document)
    columns: dict[str, None] = {}
    for item in items[:200]:
        if isinstance(item, dict):
            columns.update(dict.fromkeys(item))
    state = {"i": 0}
    max_chars = limits.max_field_chars

    def records() -> Iterator[Record]:
        for i, item in enumerate(items, start=1):
            state["i"] = i
            if not isinstance(item, dict):
                yield Record(i, None, "not a JSON object")
            elif (problem := check_value(item, depth, max_chars)) is not None:
                yield Record(i, None, problem)
            else:
                yield Record(i, item)

    return Table(path, "json", list(columns), records(), len(items), None, "item", lambda: state["i"])


def _parse_line(line: bytes, limits: ImportSettings) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) or (None, why the line is refused)."""
    try:
        item = _loads(line)
    except UnicodeDecodeError as exc:
        return None, undecodable(line, exc)
    except JsonDepthError:
        return None, f"nested deeper than {limits.max_json_depth} levels (imports.max_json_depth)"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}"
    if not isinstance(item, dict):
        return None, "not a JSON object"
    problem = check_value(item, limits.max_json_depth, limits.max_field_chars)
    return (None, problem) if problem else (item, None)


def _open_jsonl(path: Path, gz: bool, limits: ImportSettings) -> Table:
    _checked_size(path, gz, limits)
    max_line = limits.max_line_bytes
    too_long = f"longer than {limits.max_line_kb:,} KB (imports.max_line_kb)"
    columns: dict[str, None] = {}
    stream, raw = _open_binary(path, gz)
    try:
        for n, line in bounded_lines(stream, max_line):
            if n > 200:
                break
            item = _parse_line(line, limits)[0] if line is not None else None
            if item is not None:
                columns.update(dict.fromkeys(item))
    except (OSError, EOFError):
        pass
    finally:
        raw.close()
    stream, raw = _open_binary(path, gz)

    def records() -> Iterator[Record]:
        n = 0
        try:
            for n, line in bounded_lines(stream, max_line):  # noqa: B007 - n used after the loop
                if line is None:
                    yield Record(n, None, too_long)
                    continue
                if not line.strip():
                    continue
                item, problem = _parse_line(line, limits)
                yield Record(n, item, problem)
        except (OSError, EOFError) as exc:  # the file changed or broke after it was checked
            yield Record(n + 1, None, f"file ends in error: {exc}", fatal=True)

    size = path.stat().st_size
    return Table(path, "jsonl", list(columns), records(), size, "utf-8", "line", raw.tell, [stream, raw])


def open_table(path: str | Path, limits: ImportSettings | None = None) -> Table:
    """Open a CSV, TSV, XLSX, JSON or JSON Lines file (each optionally gzipped) within ``limits``.

    Raises:
        TableError: unknown type, unreadable workbook, invalid JSON document, or a breached limit
            that refuses the whole file (see :mod:`ingest.read_limits`); the message names the file.
    """
    path = Path(path)
    limits = limits or ImportSettings()
    kind, gz = file_kind(path)
    try:
        if kind in ("csv", "tsv"):
            return _open_csv(path, gz, "," if kind == "csv" else "\t", limits)
        if kind == "xlsx":
            return _open_xlsx(path, gz, limits)
        if kind == "json":
            return _open_json(path, gz, limits)
        return _open_jsonl(path, gz, limits)
    except LimitError as exc:
        raise TableError(f"{path.name}: {exc}") from None
