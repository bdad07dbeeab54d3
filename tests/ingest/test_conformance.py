"""The one conformance suite every source kind passes.

For each kind a small harness builds the source against local fixtures (a scripted HTTP server,
a drop folder, a webhook port, a clock) and can make new items appear. Every kind must:

* be registered under its ``kind`` and declare a strict options model that config validation uses;
* yield :class:`FetchBatch` objects whose items are :class:`RawItem` and whose cursors are JSON;
* keep cursor keys it does not own;
* after a restart from the stored cursor, neither miss nor re-import anything;
* answer :meth:`Source.check` with a :class:`Health`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from ingest.base import FetchBatch, Health, RawItem, Source, SourceOptions
from ingest.pipeline import Ingestor
from ingest.registry import build_source, source_class
from ingest.sources.demo import HOUR, DemoSource
from ingest.sources.webhook_server import WebhookServer
from kernel import plugins
from kernel.settings import SourceSettings
from storage.store import Store
from tests.ingest.conftest import FAST_HTTP, Reply, Request, ScriptedServer, count_documents
from tests.ingest.web_site import LocalSite

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@dataclass
class Harness:
    kind: str
    options: dict[str, Any]
    add: Callable[[int], int]  # make n new items available; returns how many should be imported
    initial: int  # items available before the first run
    prepare: Callable[[Source], None] = lambda source: None


def rss_harness(server: ScriptedServer, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    entries: list[str] = []

    def add(n: int) -> int:
        for _ in range(n):
            i = len(entries)
            entries.append(
                f"<item><title>公告{i}</title><link>/n/{i}.html</link><guid>rss-{i}</guid>"
                f"<pubDate>2024-05-{1 + i % 28:02d} 10:00</pubDate><description>第{i}号公告的正文内容</description></item>"
            )
        return n

    def answer(request: Request) -> Reply:
        etag = f'"{len(entries)}"'
        if request.headers.get("If-None-Match") == etag:
            return Reply(304, headers={"ETag": etag})
        body = "<rss version='2.0'><channel><title>t</title><link>https://gov.example.cn/</link>"
        body += "".join(reversed(entries)) + "</channel></rss>"
        return Reply(body=body.encode("utf-8"), headers={"ETag": etag, "Content-Type": "application/rss+xml"})

    server.set("/feed", answer)
    add(3)
    return Harness("rss", {"url": server.url("/feed"), "http": FAST_HTTP}, add, 3)


def json_api_harness(server: ScriptedServer, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    posts: list[dict[str, Any]] = []
    monkeypatch.setenv("TEST_CONFORMANCE_TOKEN", "t0ken")

    def add(n: int) -> int:
        for _ in range(n):
            i = len(posts)
            posts.append({"id": f"j{i}", "text": f"第{i}条帖子内容", "ts": 1714528800 + i * 60})
        return n

    def answer(request: Request) -> Reply:
        assert request.headers.get("Authorization") == "Bearer t0ken"
        page, size = int(request.query["p"][0]), int(request.query["n"][0])
        newest_first = list(reversed(posts))
        return Reply.json({"data": newest_first[(page - 1) * size : page * size]})

    server.set("/api", answer)
    add(5)
    options = {
        "url": server.url("/api"),
        "http": FAST_HTTP,
        "items_path": "data",
        "fields": {"external_id": ["id"], "content": "text", "published_at": "ts"},
        "auth_value": "$env:TEST_CONFORMANCE_TOKEN",
        "auth_prefix": "Bearer ",
        "pagination": {"mode": "page", "page_param": "p", "size_param": "n", "page_size": 2},
    }
    return Harness("json_api", options, add, 5)


def hotline_harness(server: ScriptedServer, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    inbox = tmp / "inbox"
    inbox.mkdir()
    count = {"files": 0, "rows": 0}

    def add(n: int) -> int:
        count["files"] += 1
        path = inbox / f"export{count['files']}.csv"
        lines = ["id,content,published_at"]
        for _ in range(n):
            count["rows"] += 1
            lines.append(
                f"h{count['rows']},第{count['rows']}条工单内容,2024-05-01 10:{count['rows'] % 60:02d}"
            )
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.utime(path, (time.time() - 60, time.time() - 60))
        return n

    add(4)
    return Harness("hotline_files", {"folder": str(inbox), "settle_seconds": 0, "batch_size": 3}, add, 4)


def webhook_harness(server: ScriptedServer, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setenv("TEST_CONFORMANCE_PUSH", "push")
    options = {
        "token": "$env:TEST_CONFORMANCE_PUSH",
        "port": 0,
        "spool_dir": str(tmp / "spool"),
        "batch_size": 2,
    }
    receiver = build_source("conf-webhook", "webhook", options, channel=None, timezone="Asia/Shanghai")
    http = WebhookServer(receiver).start()  # type: ignore[arg-type]
    sent = {"n": 0}

    def add(n: int) -> int:
        items = [{"id": f"w{sent['n'] + k}", "content": f"推送的第{sent['n'] + k}条"} for k in range(n)]
        sent["n"] += n
        answer = httpx.post(http.url, json=items, headers={"X-Token": "push"}, timeout=5)
        assert answer.status_code == 202
        return n

    add(3)
    harness = Harness("webhook", options, add, 3)
    harness.stop = http.stop  # type: ignore[attr-defined]
    return harness


def demo_harness(server: ScriptedServer, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    clock = {"now": NOW}
    options = {"use_corpora": False, "backfill_days": 0.25, "rate_per_hour": 30}

    def expected(start: datetime, end: datetime, anchor: int) -> int:
        probe = DemoSource("probe", DemoSource.options_model.model_validate(options))
        hours = range(int(start.timestamp()) // HOUR, int(end.timestamp()) // HOUR + 1)
        return sum(
            1
            for h in hours
            for i in probe.hour_items(h, anchor)
            if i.published_at and start < i.published_at <= end
        )

    anchor = int(NOW.timestamp()) // HOUR - 2

    def add(n: int) -> int:
        before = clock["now"]
        clock["now"] = before + timedelta(minutes=37 * n)
        return expected(before, clock["now"], anchor)

    def prepare(source: Source) -> None:
        source.now = lambda: clock["now"]  # type: ignore[attr-defined]

    initial = expected(NOW - timedelta(days=0.25), NOW, anchor)
    return Harness("demo", options, add, initial, prepare)


def web_harness(server: ScriptedServer, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    site = LocalSite(server)
    count = {"n": 0}

    def add(n: int) -> int:
        for _ in range(n):
            count["n"] += 1
            site.add_notice(count["n"])
        return n

    add(4)
    options = {
        "list_urls": [site.url()],
        "pagination": {"next_selector": "auto", "max_pages": 5},
        "request_interval_s": 0,
        "http": FAST_HTTP,
    }
    return Harness("web", options, add, 4)


HARNESSES = {
    "rss": rss_harness,
    "json_api": json_api_harness,
    "hotline_files": hotline_harness,
    "webhook": webhook_harness,
    "demo": demo_harness,
    "web": web_harness,
}


def test_every_registered_kind_has_a_harness() -> None:
    assert set(HARNESSES) == set(plugins.names(plugins.SOURCES))


@pytest.fixture(params=sorted(HARNESSES))
def harness(
    request: pytest.FixtureRequest,
    http_server: ScriptedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Harness]:
    made = HARNESSES[request.param](http_server, tmp_path, monkeypatch)
    yield made
    stop = getattr(made, "stop", None)
    if stop:
        stop()


def fresh_source(h: Harness) -> Source:
    """A new instance each time: a restart keeps nothing but the stored cursor."""
    source = build_source(f"conf-{h.kind}", h.kind, h.options, channel=None, timezone="Asia/Shanghai")
    h.prepare(source)
    return source


def test_declares_kind_and_strict_options(harness: Harness) -> None:
    cls = source_class(harness.kind)
    assert cls.kind == harness.kind and issubclass(cls, Source)
    assert issubclass(cls.options_model, SourceOptions)
    with pytest.raises(ValueError):
        cls.options_model.model_validate({**harness.options, "no_such_option": 1})
    settings = SourceSettings(name="configured", kind=harness.kind, options=harness.options)
    assert settings.kind == harness.kind
    assert cls.default_channel in ("social", "news", "hotline", "gov")


def test_fetch_yields_batches_with_json_cursors(harness: Harness) -> None:
    batches = list(fresh_source(harness).fetch({"owned_by_someone_else": {"keep": True}}))
    assert batches and all(isinstance(b, FetchBatch) for b in batches)
    items = [i for b in batches for i in b.items]
    assert len(items) == harness.initial
    for batch in batches:
        assert json.loads(json.dumps(batch.cursor)) == batch.cursor
        assert batch.cursor["owned_by_someone_else"] == {"keep": True}
        assert all(isinstance(reason, str) for _, reason in batch.skipped)
    for raw in items:
        assert isinstance(raw, RawItem) and raw.external_id and len(raw.external_id) <= 255
        assert raw.content or raw.title


def test_restart_from_cursor_neither_misses_nor_reimports(harness: Harness, sqlite_engine: Engine) -> None:
    ingestor = Ingestor(Store(sqlite_engine), author_key="k")
    name = f"conf-{harness.kind}"
    first = ingestor.run(fresh_source(harness))
    assert (first.status, first.new) == ("ok", harness.initial)
    idle = ingestor.run(fresh_source(harness))
    assert (idle.status, idle.new, idle.fetched) == ("ok", 0, 0)
    expected = harness.add(3)
    assert expected > 0
    later = ingestor.run(fresh_source(harness))
    assert (later.status, later.new, later.duplicates) == ("ok", expected, 0)
    assert count_documents(sqlite_engine, name) == harness.initial + expected


def test_check_answers_with_health(harness: Harness) -> None:
    health = fresh_source(harness).check()
    assert isinstance(health, Health) and health.ok and isinstance(health.detail, str)
