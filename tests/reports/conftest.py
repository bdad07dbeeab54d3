"""Shared pieces of the report tests: a seeded week, readers for the generated files, an SMTP sink."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine

from kernel.settings import Settings
from tests.seed import SeedDoc, SeedFacts, seed_database

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # Sunday 20:00 in Beijing: week 2026-W47 is complete
WEEK = "2026-W47"
START = datetime(2026, 11, 15, 16, 0, tzinfo=UTC)  # Monday 2026-11-16 00:00 Beijing time
END = START + timedelta(days=7)
PREV = START - timedelta(days=7)


def week_docs(facts: SeedFacts, start: datetime = START, end: datetime = END) -> list[SeedDoc]:
    """Every seeded document published in [start, end), tagged or not."""
    return [d for d in facts.docs if start <= d.published_at < end]


@pytest.fixture
def seeded(engine: Engine) -> tuple[Engine, SeedFacts]:
    """The engine (SQLite or PostgreSQL) holding the seed, with W47 and W46 fully covered."""
    return engine, seed_database(engine, NOW)


@pytest.fixture
def settings() -> Settings:
    return Settings()


def parse_ranges(text: str | None) -> set[int]:
    """Inverse of ``render_xlsx.id_ranges``: ``1-3,7`` -> {1, 2, 3, 7}."""
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def sheet_rows(path: Path, title_part: str) -> list[dict[str, Any]]:
    """Rows of the XLSX sheet titled ``title_part`` (else containing it), keyed by the header labels."""
    wb = load_workbook(path)
    names = [n for n in wb.sheetnames if n.split(" ", 1)[-1] == title_part] or [
        n for n in wb.sheetnames if title_part in n
    ]
    assert len(names) == 1, f"{title_part!r} matches sheets {names} of {wb.sheetnames}"
    rows = list(wb[names[0]].iter_rows(values_only=True))
    header = rows[0]
    out = []
    for row in rows[1:]:
        if row[0] is None or (isinstance(row[0], str) and row[0].startswith("注：")):
            continue
        out.append(dict(zip(header, row, strict=True)))
    return out


def by_first(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    first = next(iter(rows[0])) if rows else None
    return {r[first]: r for r in rows}


MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
