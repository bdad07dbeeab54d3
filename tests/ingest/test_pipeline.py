"""The ingestion pipeline on SQLite and PostgreSQL: cleaning, masking, linking copies, health rows."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, select

from ingest.base import FatalSourceError, FetchBatch, RawItem, RetriableSourceError, Source, SourceOptions
from ingest.pii import hash_author
from ingest.pipeline import Ingestor
from storage import schema as s
from storage.store import Store
from tests.ingest.conftest import count_documents, documents, ingest_runs

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
LONG = "市民反映幸福路与建设路交叉口的红绿灯时间设置不合理，行人绿灯只有十几秒，老人和孩子根本来不及通过，希望交警部门尽快调整。"


class ListSource(Source):
    """Yields the given batches; the cursor counts batches done. ``fail_after`` raises after N batches."""

    kind: ClassVar[str] = "list"
    options_model: ClassVar[type[SourceOptions]] = SourceOptions

    def __init__(
        self,
        batches: list[list[RawItem]],
        fail_after: int | None = None,
        error: Exception | None = None,
        name: str = "list",
    ) -> None:
        super().__init__(name, SourceOptions(), channel="social")
        self.batches = batches
        self.fail_after = fail_after
        self.error = error or RetriableSourceError("HTTP 503 after 3 attempts")

    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        start = int(cursor.get("batch", 0))
        for n, items in enumerate(self.batches[start:], start=start):
            if self.fail_after is not None and n >= self.fail_after:
                raise self.error
            yield FetchBatch(
                items, {**cursor, "batch": n + 1}, skipped=[] if n else [("row 9", "invalid_date:time")]
            )


def item(ext: str, content: str, **kw: Any) -> RawItem:
    kw.setdefault("published_at", T0 - timedelta(hours=1))
    return RawItem(external_id=ext, content=content, **kw)


def make_ingestor(engine: Engine, **kw: Any) -> Ingestor:
    return Ingestor(Store(engine), author_key="k", clock=lambda: T0, warm_days=30, **kw)


def test_cleaning_masking_and_author_hash(engine: Engine) -> None:
    raw = item(
        "a1",
        "<p>我的电话&nbsp;13812345678，ＡＢＣ小区&amp;物业不作为！</p>",
        title="<b>投诉</b> 物业，联系 13912345678",
        author="张三",
        reply="已转交，回电 13700001111",
        url="https://example.com/a1",
    )
    report = make_ingestor(engine).run(ListSource([[raw]]))
    assert report.status == "ok" and report.new == 1
    (doc,) = documents(engine)
    assert doc["content"] == "我的电话 138****5678，ABC小区&物业不作为！"
    assert doc["title"] is not None and "139****5678" in doc["title"] and "<b>" not in doc["title"]
    assert doc["reply"] is not None and "13700001111" not in doc["reply"]
    assert doc["author_hash"] == hash_author("张三", "k") and "张三" not in doc["author_hash"]
    assert re.fullmatch(r"[0-9a-f]{40}", doc["content_hash"])
    assert doc["channel"] == "social" and doc["fetched_at"] == T0


def test_no_text_is_skipped_and_no_date_is_flagged(engine: Engine) -> None:
    batch = [
        item("empty", "  <br/> "),
        item("title-only", "", title="只有标题的留言"),
        RawItem(external_id="undated", content="没有时间的留言", published_at=None),
    ]
    report = make_ingestor(engine).run(ListSource([batch]))
    assert report.skipped == {"no_text": 1, "invalid_date:time": 1}
    assert report.flagged == {"no_date": 1}
    docs = {d["external_id"]: d for d in documents(engine)}
    assert set(docs) == {"title-only", "undated"}
    assert docs["title-only"]["content"] == "只有标题的留言"
    assert docs["undated"]["published_at"] == T0 and docs["undated"]["extra"]["flags"] == ["no_date"]
    (run,) = ingest_runs(engine)
    assert run["skip_reasons"] == {"no_text": 1, "invalid_date:time": 1, "flagged:no_date": 1}
    assert (run["fetched"], run["new"], run["skipped"], run["status"]) == (4, 2, 2, "ok")


def test_copies_are_linked_not_dropped(engine: Engine) -> None:
    repost = f"转发微博//@热心市民: {LONG}"
    first = [item("p1", LONG), item("p2", LONG + " "), item("p3", repost), item("p6", repost)]
    second = [
        item("p4", LONG.replace("尽快", "马上")),
        item("p5", "完全不同的另一件事：公园厕所太少，周末排长队。"),
        item("p7", repost),
    ]
    report = make_ingestor(engine).run(ListSource([first, second]))
    assert report.new == 7 and report.exact_copies == 3 and report.near_copies == 2
    docs = {d["external_id"]: d for d in documents(engine)}
    root = docs["p1"]["id"]
    assert docs["p1"]["dup_of"] is None and docs["p1"]["dup_count"] == 5
    # A copy of a copy joins the first copy's cluster, in the same batch and across batches.
    assert docs["p6"]["dup_of"] == root and docs["p7"]["dup_of"] == root
    assert docs["p2"]["dup_of"] == root and docs["p2"]["extra"]["dup_kind"] == "exact"
    assert docs["p3"]["dup_of"] == root and docs["p3"]["extra"]["dup_kind"] == "near"
    assert docs["p4"]["dup_of"] == root
    assert docs["p5"]["dup_of"] is None


def test_a_new_process_links_to_stored_first_copies(engine: Engine) -> None:
    make_ingestor(engine).run(ListSource([[item("x1", LONG)]], name="one"))
    report = make_ingestor(engine).run(ListSource([[item("y1", "转发微博 " + LONG + "!!")]], name="two"))
    assert report.near_copies + report.exact_copies == 1
    stored = {d["external_id"]: d for d in documents(engine)}
    assert stored["y1"]["dup_of"] == stored["x1"]["id"]


def test_refetched_items_count_as_already_stored(engine: Engine) -> None:
    batch = [item("r1", "第一条内容比较长一些的文本"), item("r2", "第二条内容也比较长的文本")]
    ingestor = make_ingestor(engine)
    ingestor.run(ListSource([batch]))
    with engine.begin() as conn:  # forget the cursor: the source sends everything again
        conn.execute(s.sources.update().values(cursor={}))
    again = ingestor.run(ListSource([batch + [item("r3", "第三条是新来的内容文本")]]))
    assert (again.new, again.duplicates) == (1, 2)
    assert count_documents(engine) == 3


def test_errors_end_the_run_but_keep_committed_batches(engine: Engine) -> None:
    batches = [
        [item("e1", "第一批的内容文本")],
        [item("e2", "第二批的内容文本")],
        [item("e3", "第三批的内容文本")],
    ]
    ingestor = make_ingestor(engine)
    partial = ingestor.run(ListSource(batches, fail_after=1))
    assert partial.status == "partial" and partial.new == 1 and "503" in (partial.error or "")
    resumed = ingestor.run(ListSource(batches))
    assert resumed.status == "ok" and resumed.new == 2 and resumed.duplicates == 0
    failed = ingestor.run(
        ListSource([[item("f1", "x")]], fail_after=0, error=FatalSourceError("bad token"), name="other")
    )
    assert failed.status == "failed" and failed.new == 0
    runs = ingest_runs(engine)
    assert [r["status"] for r in runs] == ["partial", "ok", "failed"]
    assert runs[0]["errors"] == 1 and runs[0]["error"].startswith("RetriableSourceError")
    assert all(r["latency_ms"] is not None and r["finished_at"] is not None for r in runs)


def test_a_bug_in_a_source_is_recorded_not_raised(engine: Engine) -> None:
    report = make_ingestor(engine).run(ListSource([[item("b1", "x")]], fail_after=0, error=KeyError("oops")))
    assert report.status == "failed" and "KeyError" in (report.error or "")


def test_runs_left_running_by_a_dead_process_are_closed(engine: Engine) -> None:
    store = Store(engine)
    sid = store.ensure_source("list", "list", "social")
    store.start_ingest_run(sid)  # the process died here
    make_ingestor(engine).run(ListSource([[item("k1", "内容")]]))
    runs = ingest_runs(engine)
    assert [r["status"] for r in runs] == ["failed", "ok"]
    assert "interrupted" in runs[0]["error"]


def test_one_summary_line_per_run(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingest.pipeline")
    make_ingestor(engine).run(ListSource([[item("l1", "一条")], [item("l2", "两条")]]))
    lines = [
        r.getMessage() for r in caplog.records if r.name == "ingest.pipeline" and r.levelno == logging.INFO
    ]
    assert len(lines) == 1 and lines[0].startswith("source list: ok; fetched 3, new 2")


def test_simulated_items_stay_labelled(engine: Engine) -> None:
    raw = item("s1", "模拟的一条微博", simulated=True, extra={"marker": "【模拟】"})
    make_ingestor(engine).run(ListSource([[raw]]))
    with engine.connect() as conn:
        row = conn.execute(select(s.documents.c.simulated, s.documents.c.extra)).one()
    assert row.simulated is True and row.extra["marker"] == "【模拟】"
