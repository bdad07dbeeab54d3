"""Spreadsheet cells that stay text: the one helper of every export (search CSV / Excel, weekly XLSX).

Document text comes from the public, so a title such as ``=HYPERLINK("http://x", "点我")`` must
never run as a formula when an official opens an export. In CSV a text cell that a spreadsheet
program would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) gets a leading apostrophe; in XLSX every text cell is written with the string type, so
its value is kept exactly and shown literally. Characters XLSX cannot hold (C0 control
characters other than tab and line breaks) are dropped instead of failing the whole export.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as _ILLEGAL
from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: object) -> object:
    """CSV: prefix an apostrophe to text a spreadsheet would read as a formula; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def text_cell(ws: Worksheet, value: str) -> Cell:
    """An XLSX cell holding ``value`` as text, whatever it starts with."""
    cell = Cell(ws, row=1, column=1, value=_ILLEGAL.sub("", value))  # append() places it
    cell.data_type = "s"
    return cell


def append_row(ws: Worksheet, values: Iterable[Any]) -> None:
    """Append one row to ``ws``; every ``str`` is written as a text cell (never a formula)."""
    ws.append([text_cell(ws, v) if isinstance(v, str) else v for v in values])


def set_cell(ws: Worksheet, row: int, column: int, value: Any) -> Cell:
    """``ws.cell(row, column, value)`` with text kept as text."""
    cell = ws.cell(row=row, column=column)
    if isinstance(value, str):
        cell.value = _ILLEGAL.sub("", value)
        cell.data_type = "s"
    else:
        cell.value = value
    return cell
