"""Fuzz: arbitrary JSON values in every field, through every way items come in, on both databases.

Each example builds records whose ``id`` is known (so each can be followed) and whose other fields
are any JSON value (NUL, lone surrogates, huge and negative numbers, NaN, nested lists and objects)
or a good value, feeds them through the webhook spool, a JSON API, and JSONL / CSV / XLSX imports,
and checks: the run does not fail, every good record is stored exactly once, and every other record
is stored once, dead-lettered with its row, or skipped for having no text. Bounded by Hypothesis'
``max_examples`` so it runs in CI on both databases.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from ingest.base import RawItem
from ingest.file_import import FileImportSource
from ingest.pipeline import Ingestor
from ingest.registry import build_source
from storage import schema as s
from storage.dead_letters import list_dead_letters
from storage.store import Store
from tests.ingest.conftest import FAST_HTTP, Reply, ScriptedServer

pytestmark = pytest.mark.slow

FIELDS = (
    "content",
    "title",
    "url",
    "published_at",
    "author",
    "channel",
    "region",
    "likes",
    "reposts",
    "comments",
    "reads",
    "reply",
    "replied_at",
    "flags",
    "note",
)
MAPPING = {
    "external_id": ["id"],
    "content": "content",
    "title": "title",
    "url": "url",
    "published_at": "published_at",
    "author": "author",
    "channel": "channel",
    "region_hint": "region",
    "likes": "likes",
    "reposts": "reposts",
    "comments": "comments",
    "reads": "reads",
    "reply": "reply",
    "replied_at": "replied_at",
    "extra": {"flags": "flags", "note": "note"},
}
FUZZ = settings(
    max_examples=int(os.environ.get("SENSING_FUZZ_EXAMPLES", "12")),
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

any_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=20) | st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "x\udfffy", "", "   ", "北京\x00市"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | any_text
)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
    max_leaves=6,
)
good_text = st.text(
    alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), min_size=4, max_size=30
)


@st.composite
def records(draw: Any) -> tuple[list[dict[str, Any]], set[str]]:
    """(records, ids of the good ones): a good record has only well-formed values."""
    out, good = [], set()
    for n in range(draw(st.integers(min_value=1, max_value=8))):
        ident = f"r{n}"
        if draw(st.booleans()):
            record: dict[str, Any] = {"id": ident, "content": f"{ident}{draw(good_text)}"}
            if draw(st.booleans()):
                record["likes"] = draw(st.integers(min_value=0, max_value=10**6))
            good.add(ident)
        else:
            record = {"id": ident}
            for name in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=len(FIELDS))):
                record[name] = draw(any_json)
        out.append(record)
    return out, good


def check(engine: Engine, name: str, report: Any, recs: list[dict[str, Any]], good: set[str]) -> None:
    assert report.status == "ok" and report.errors == 0, report.error
    with engine.connect() as conn:
        stored = list(
            conn.execute(
                select(s.documents.c.external_id).join(s.sources).where(s.sources.c.name == name)
            ).scalars()
        )
    assert len(stored) == len(set(stored)), "an item was stored twice"
    assert good <= set(stored), f"good records lost: {good - set(stored)}"
    dead = list_dead_letters(engine, source=name)
    assert all(re.search(r"(:\d+|item \d+)$", d["ref"]) for d in dead), [d["ref"] for d in dead]
    skipped_empty = report.skipped.get("no_text", 0)
    assert len(stored) + len(dead) + skipped_empty == len(recs), (stored, dead, report.skipped)


def ingestor(engine: Engine) -> Ingestor:
    return Ingestor(Store(engine), author_key="k", index=False)


def cell(value: Any) -> Any:
    """What a person could type in a spreadsheet cell for ``value`` (no surrogates or control chars)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and abs(value) < 10**15:
        return value
    if isinstance(value, float) and value == value and abs(value) < 1e300:
        return value
    text = value if isinstance(value, str) else json.dumps(value)
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]", "", text)


@FUZZ
@given(data=records())
def test_webhook_spool(engine: Engine, data: tuple[list[dict[str, Any]], set[str]]) -> None:
    recs, good = data
    name = f"w{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        source = build_source(
            name, "webhook", {"token": "$env:X", "spool_dir": tmp}, channel=None, timezone="Asia/Shanghai"
        )
        source.spool.append([{**r, "received_at": "2026-11-20T08:00:00+00:00"} for r in recs])  # type: ignore[attr-defined]
        report = ingestor(engine).run(source)
    check(engine, name, report, recs, good)


@FUZZ
@given(data=records())
def test_json_api(engine: Engine, data: tuple[list[dict[str, Any]], set[str]]) -> None:
    recs, good = data
    name = f"a{uuid.uuid4().hex[:8]}"
    server = ScriptedServer()
    server.thread.start()
    try:
        body = json.dumps({"items": recs}).encode("ascii")
        server.set("/api", Reply(body=body, headers={"Content-Type": "application/json"}))
        options = {"url": server.url("/api"), "http": FAST_HTTP, "fields": MAPPING}
        source = build_source(name, "json_api", options, channel=None, timezone="Asia/Shanghai")
        report = ingestor(engine).run(source)
        source.close()
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    check(engine, name, report, recs, good)


def write_file(folder: Path, kind: str, recs: list[dict[str, Any]]) -> Path:
    path = folder / f"fuzz.{kind}"
    columns = ["id", *FIELDS]
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="ascii")
    elif kind == "csv":
        with path.open("w", encoding="utf-8", errors="replace", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for r in recs:
                writer.writerow(["" if r.get(c) is None else cell(r.get(c)) for c in columns])
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(columns)
        for r in recs:
            sheet.append([cell(r.get(c)) for c in columns])
        book.save(path)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "csv", "xlsx"])
@FUZZ
@given(data=records())
def test_file_import(engine: Engine, kind: str, data: tuple[list[dict[str, Any]], set[str]]) -> None:
    recs, good = data
    # JSON Lines columns come from the records: with no text column at all the whole file is
    # refused up front (a file-level error, by design), which is not what this test is about.
    assume(kind != "jsonl" or any("content" in r or "title" in r for r in recs))
    name = f"f{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = write_file(Path(tmp), kind, recs)
        options = FileImportSource.options_model.model_validate({"path": str(path), "fields": MAPPING})
        report = ingestor(engine).run(FileImportSource(name, options))
    check(engine, name, report, recs, good)


def test_raw_items_of_any_shape_never_fail_a_run(engine: Engine) -> None:
    """A source handing over wrongly typed fields: the item is fixed or dead-lettered, never fatal."""
    from ingest.base import FetchBatch, Source

    class Odd(Source):
        kind = "odd"

        def fetch(self, cursor: dict[str, Any]):  # type: ignore[no-untyped-def]
            yield FetchBatch(
                [
                    RawItem("a", "好的正文"),
                    RawItem("b", "计数不是数", likes="很多"),  # type: ignore[arg-type]
                    RawItem("c", 12345, title=["x"], extra={"flags": {"a": 1}}),  # type: ignore[arg-type]
                    RawItem("d", "时间不是时间", published_at="yesterday"),  # type: ignore[arg-type]
                ],
                {"n": 1},
            )

    source = Odd("odd", Odd.options_model())
    report = ingestor(engine).run(source)
    assert (report.status, report.new, report.dead_lettered) == ("ok", 1, 3)
    assert Store(engine).get_cursor(Store(engine).ensure_source("odd", "odd")) == {"n": 1}
