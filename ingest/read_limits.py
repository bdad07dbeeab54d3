"""Bounds on what reading one imported file may cost, and the checks that keep them.

The limits come from the ``imports`` settings (:class:`kernel.settings.ImportSettings`). What a
breach costs depends on whether the rest of the file can still be read unambiguously:

* **whole file refused, nothing read** (:class:`LimitError` at open): a gzip stream that
  decompresses past ``max_decompressed_mb`` or is truncated or corrupt (checked in one bounded
  pass before the first row is read); an XLSX whose zip members declare more than
  ``max_decompressed_mb`` uncompressed (:mod:`zipfile` never returns more than a member declares);
  a JSON document larger than ``max_json_document_mb``, nested deeper than ``max_json_depth``,
  invalid, or not decodable.
* **the rest of the file refused** (rows before it are kept): a CSV quote that is never closed,
  so the field runs to the end of the file or past ``max_line_kb``; a CSV line longer than
  ``max_line_kb``. From that line on the parse is ambiguous; the rows before it were not.
* **the row skipped, counted and named**: a field longer than ``max_field_chars``; a line whose
  bytes do not decode in the file's encoding; a malformed CSV quote (``"a"b``) that closes on its
  line; a JSON Lines line that is too long, too deep or not valid JSON.

Nothing is ever replaced with U+FFFD or merged into a neighbouring row without an error.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from kernel.settings import ImportSettings

_CHUNK = 1 << 20
_MB = 1 << 20
# A JSON string (quotes and escapes included) or a bracket: what the depth scan looks at.
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


class LimitError(ValueError):
    """A limit was exceeded or the input is malformed beyond safe reading; the message says where."""


def check_gzip(path: Path, max_bytes: int) -> int:
    """Decompress ``path`` once in 1 MB steps and return its size; memory stays bounded.

    Raises:
        LimitError: it decompresses to more than ``max_bytes``, or it is truncated or corrupt.
    """
    total = 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise LimitError(
                        f"decompresses to more than {max_bytes // _MB} MB "
                        "(imports.max_decompressed_mb): refused, nothing was read"
                    )
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile and CRC errors are OSErrors
        raise LimitError(f"not a complete gzip file ({exc}): refused, nothing was read") from None
    return total


def check_zip(source: IO[bytes] | Path, max_bytes: int) -> None:
    """Refuse a zip (an XLSX) whose members declare more than ``max_bytes`` uncompressed in all.

    The declared sizes are enough: :mod:`zipfile` stops a member at its declared size and fails
    its CRC check when more data follows, so a lying header cannot inflate past the bound.
    """
    import zipfile

    try:
        with zipfile.ZipFile(source) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise LimitError(f"not a readable XLSX workbook (BadZipFile: {exc})") from None
    if total > max_bytes:
        raise LimitError(
            f"its zip members expand to {total // _MB:,} MB, more than {max_bytes // _MB} MB "
            "(imports.max_decompressed_mb): refused, nothing was read"
        )


class LineReader:
    """The physical lines of a binary text stream, strictly decoded, for :func:`csv.reader`.

    A line longer than ``max_bytes``, or a row (a quoted field may span lines) that grows past
    it, raises :class:`LimitError` naming the line the row started on. A line that does not
    decode is passed on decoded with replacement characters, so the CSV parser stays in step,
    and noted in :attr:`bad`: the caller refuses every row that spans such a line.
    """

    def __init__(self, stream: IO[bytes] | CrLineStream, encoding: str, max_bytes: int) -> None:
        self.stream = stream
        self.encoding = encoding
        self.max_bytes = max_bytes
        self.line_no = 0
        self.eof = False
        self.bad: dict[int, str] = {}  # line number -> why it does not decode
        self.row_start = 1
        self._row_bytes = 0

    def start_row(self) -> None:
        """Called before each row is parsed: the row's bytes are counted from here."""
        self.row_start = self.line_no + 1
        self._row_bytes = 0

    def __iter__(self) -> LineReader:
        return self

    def __next__(self) -> str:
        line = self.stream.readline(self.max_bytes + 1)
        if not line:
            self.eof = True
            raise StopIteration
        self.line_no += 1
        self._row_bytes += len(line)
        if self._row_bytes > self.max_bytes:
            limit = f"{self.max_bytes // 1024:,} KB (imports.max_line_kb)"
            if len(line) > self.max_bytes:
                raise LimitError(f"line {self.line_no} is longer than {limit}")
            raise LimitError(
                f"the row starting on line {self.row_start} runs past {limit} by line {self.line_no}: "
                "a quote opened there is probably never closed"
            )
        try:
            text = line.decode(self.encoding)
        except UnicodeDecodeError as exc:
            self.bad[self.line_no] = f"{undecodable(line, exc)} of line {self.line_no}"
            text = line.decode(self.encoding, "replace")  # only for the parser; the row is refused
        if self.encoding == "utf-8-sig":
            self.encoding = "utf-8"  # a BOM is only ever at the start of the file
        return text


class CrLineStream:
    """``readline`` over a stream whose lines end in a bare CR (classic Mac CSV), returned as LF lines.

    Universal newlines for :class:`LineReader`, which splits on LF only; a CR inside a quoted
    field becomes LF as it would when such a file is opened in text mode.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self._buffer = b""

    def readline(self, limit: int) -> bytes:
        while True:
            cr = self._buffer.find(b"\r", 0, limit)
            if cr >= 0:
                line, self._buffer = self._buffer[:cr] + b"\n", self._buffer[cr + 1 :]
                return line
            if len(self._buffer) >= limit:
                line, self._buffer = self._buffer[:limit], self._buffer[limit:]
                return line
            chunk = self.stream.read(1 << 16)
            if not chunk:
                line, self._buffer = self._buffer, b""
                return line
            self._buffer += chunk


def bounded_lines(stream: IO[bytes], max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(1-based line number, line) pairs; an over-long line is read past in bounded steps as None."""
    n = 0
    while line := stream.readline(max_bytes + 1):
        n += 1
        if len(line) <= max_bytes:
            yield n, line
            continue
        if not line.endswith(b"\n"):
            while (rest := stream.readline(_CHUNK)) and not rest.endswith(b"\n"):
                pass
        yield n, None


def check_value(value: Any, max_depth: int, max_chars: int | None = None) -> str | None:
    """Why a parsed JSON value breaks a limit (nesting or a string's length), or None.

    Walks containers iteratively (no recursion), so any depth orjson or :mod:`json` returned
    can be checked. ``value`` itself is at depth 1 when it is a list or object.
    """
    if not isinstance(value, dict | list):
        return None
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, where = stack.pop()
        if depth > max_depth:
            where = where if len(where) <= 60 else where[:60] + "..."
            return f"nested deeper than {max_depth} levels at {where!r} (imports.max_json_depth)"
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in pairs:
            if isinstance(child, str):
                if max_chars is not None and len(child) > max_chars:
                    name = f"{where}.{key}" if where else str(key)
                    return (
                        f"field {name!r} has {len(child):,} characters, more than {max_chars:,} "
                        "(imports.max_field_chars)"
                    )
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1, f"{where}.{key}" if where else str(key)))
    return None


def deep_line(data: bytes, max_depth: int) -> int | None:
    """The 1-based line on which JSON ``data`` first nests deeper than ``max_depth``, if it does."""
    depth = 0
    for match in _JSON_TOKENS.finditer(data):
        char = data[match.start()]
        if char in b"[{":
            depth += 1
            if depth > max_depth:
                return data.count(b"\n", 0, match.start()) + 1
        elif char in b"]}":
            depth -= 1
    return None


def undecodable(data: bytes, exc: UnicodeDecodeError) -> str:
    """'byte sequence ff fe does not decode as UTF-8 at column 7' (the 1-based byte column)."""
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    name = "UTF-8" if exc.encoding.replace("-", "").startswith("utf8") else exc.encoding.upper()
    return f"byte sequence {data[exc.start : exc.end].hex(' ')} does not decode as {name} at column {column}"


def bad_bytes_line(data: bytes, exc: UnicodeDecodeError) -> str:
    """'line N: byte sequence .. does not decode ..' for a decode error in a whole document."""
    line = data.count(b"\n", 0, exc.start) + 1
    return f"line {line}: {undecodable(data, exc)}"


class ReadsFiles:
    """A source that reads files with :func:`ingest.tabular.open_table`: it reads within ``limits``.

    The runner (and ``sensing import``) hand it the application's ``imports`` settings; until then
    it reads with the defaults.
    """

    limits: ImportSettings = ImportSettings()
