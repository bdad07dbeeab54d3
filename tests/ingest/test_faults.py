"""Faults and bad input: in each, nothing good is lost, the run goes on, and a health row is written."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from ingest.pipeline import Ingestor
from ingest.registry import build_source
from ingest.runner import ingest_sources
from kernel.settings import Settings
from storage import schema as s
from storage.db import make_engine
from storage.migrate import upgrade_database
from storage.store import Store
from tests.ingest.conftest import (
    DATA,
    FAST_HTTP,
    Reply,
    ScriptedServer,
    count_documents,
    documents,
    ingest_runs,
)

REPO = Path(__file__).resolve().parents[2]
FEED = (DATA / "ingest" / "rss_utf8.xml").read_bytes()


def settings_with(*sources: dict[str, Any]) -> Settings:
    return Settings.model_validate({"sources": list(sources)})


def rss(name: str, url: str, **http: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "rss",
        "channel": "gov",
        "options": {"url": url, "http": {**FAST_HTTP, **http}},
    }


def run_feeds(store: Store, *sources: dict[str, Any]) -> dict[str, Any]:
    reports = ingest_sources(settings_with(*sources), store, ingestor=Ingestor(store, author_key="k"))
    return {r.source: r for r in reports}


def test_5xx_is_retried_and_then_succeeds(http_server: ScriptedServer, store: Store, engine: Engine) -> None:
    http_server.set("/feed", Reply(500), Reply(502), Reply(body=FEED))
    report = run_feeds(store, rss("gov", http_server.url("/feed")))["gov"]
    assert (report.status, report.new) == ("ok", 3)
    assert len(http_server.hits("/feed")) == 3
    assert ingest_runs(engine, "gov")[0]["status"] == "ok"


def test_429_honours_retry_after(http_server: ScriptedServer, sqlite_engine: Engine) -> None:
    http_server.set("/feed", Reply(429, headers={"Retry-After": "1"}), Reply(body=FEED))
    source = build_source(
        "gov",
        "rss",
        {"url": http_server.url("/feed"), "http": FAST_HTTP},
        channel=None,
        timezone="Asia/Shanghai",
    )
    waits: list[float] = []
    source.sleep = waits.append  # type: ignore[attr-defined]
    report = Ingestor(Store(sqlite_engine), author_key="k").run(source)
    assert waits == [1.0] and report.new == 3  # the server's wait, not our back-off


def test_429_with_a_long_retry_after_gives_up_until_the_next_run(
    http_server: ScriptedServer, store: Store, engine: Engine
) -> None:
    http_server.set("/feed", Reply(429, headers={"Retry-After": "7200"}))
    started = time.monotonic()
    report = run_feeds(store, rss("gov", http_server.url("/feed")))["gov"]
    assert time.monotonic() - started < 5
    assert report.status == "failed" and "Retry-After 7200" in (report.error or "")
    assert len(http_server.hits("/feed")) == 1


def test_timeout_and_refused_connection_fail_alone(
    http_server: ScriptedServer, store: Store, engine: Engine
) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    http_server.set("/slow", Reply(body=FEED, delay=1.5))
    http_server.set("/feed", Reply(body=FEED))
    reports = run_feeds(
        store,
        rss("slow", http_server.url("/slow"), read_timeout_s=0.3, retries=1),
        rss("refused", f"http://127.0.0.1:{dead_port}/feed"),
        rss("good", http_server.url("/feed")),
    )
    assert reports["slow"].status == "failed" and "time-out" in (reports["slow"].error or "")
    assert reports["refused"].status == "failed" and "ConnectError" in (reports["refused"].error or "")
    assert reports["good"].status == "ok" and count_documents(engine, "good") == 3
    statuses = {name: ingest_runs(engine, name)[0]["status"] for name in ("slow", "refused", "good")}
    assert statuses == {"slow": "failed", "refused": "failed", "good": "ok"}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_50_mb_body_is_refused_by_the_size_limit(
    http_server: ScriptedServer, store: Store, engine: Engine, chunked: bool
) -> None:
    megabyte = b"<!-- padding -->" * 65536
    http_server.set("/huge", Reply(body=megabyte, repeat_body=50, chunked=chunked))
    http_server.set("/feed", Reply(body=FEED))
    started = time.monotonic()
    reports = run_feeds(store, rss("huge", http_server.url("/huge")), rss("good", http_server.url("/feed")))
    assert reports["huge"].status == "failed" and "limit" in (reports["huge"].error or "")
    assert reports["good"].new == 3
    assert time.monotonic() - started < 20
    assert ingest_runs(engine, "huge")[0]["error"].startswith("ResponseTooLargeError")


def test_truncated_xml_keeps_what_was_read(http_server: ScriptedServer, store: Store, engine: Engine) -> None:
    http_server.set("/feed", Reply(body=(DATA / "ingest" / "rss_truncated.xml").read_bytes()))
    report = run_feeds(store, rss("gov", http_server.url("/feed")))["gov"]
    assert (report.status, report.new) == ("ok", 2)
    (row,) = ingest_runs(engine, "gov")
    assert row["skip_reasons"] == {"empty_entry": 1, "flagged:bozo": 2}


def test_wrong_encoding_is_read_and_flagged(
    http_server: ScriptedServer, store: Store, engine: Engine
) -> None:
    body = (DATA / "ingest" / "rss_wrong_encoding.xml").read_bytes()
    http_server.set("/feed", Reply(body=body, headers={"Content-Type": "text/xml; charset=utf-8"}))
    report = run_feeds(store, rss("gov", http_server.url("/feed")))["gov"]
    assert report.new == 2 and report.flagged == {"encoding_mismatch": 2}
    titles = sorted(d["title"] for d in documents(engine, "gov"))
    assert titles == ["关于征集民生实事项目意见的公告", "区教育局招生政策解读"]


def test_invalid_json_keeps_earlier_pages(http_server: ScriptedServer, store: Store, engine: Engine) -> None:
    pages = [
        Reply.json({"items": [{"id": "a", "text": "第一页的帖子"}]}),
        Reply(body=b'{"items": [{"id": "b", "te'),
    ]
    http_server.set("/api", *pages)
    source = {
        "name": "api",
        "kind": "json_api",
        "options": {
            "url": http_server.url("/api"),
            "http": FAST_HTTP,
            "fields": {"external_id": ["id"], "content": "text"},
            "pagination": {"mode": "page"},
        },
    }
    report = run_feeds(store, source)["api"]
    assert report.status == "partial" and report.new == 1 and "invalid JSON" in (report.error or "")
    assert [d["external_id"] for d in documents(engine, "api")] == ["a"]


def test_items_without_text_or_date(http_server: ScriptedServer, store: Store, engine: Engine) -> None:
    http_server.set(
        "/api",
        Reply.json(
            [
                {"id": "1", "text": "有内容有时间", "t": "2024-05-01 08:00"},
                {"id": "2", "text": "有内容没时间"},
                {"id": "3", "text": "", "t": "2024-05-01 09:00"},
                {"id": "4", "text": "   \n\t ", "t": "2024-05-01 09:00"},
            ]
        ),
    )
    source = {
        "name": "api",
        "kind": "json_api",
        "options": {
            "url": http_server.url("/api"),
            "http": FAST_HTTP,
            "fields": {"external_id": ["id"], "content": "text", "published_at": "t"},
        },
    }
    report = run_feeds(store, source)["api"]
    assert (report.status, report.new) == ("ok", 2)
    assert report.skipped == {"no_text": 2} and report.flagged == {"no_date": 1}
    (row,) = ingest_runs(engine, "api")
    assert row["skip_reasons"] == {"no_text": 2, "flagged:no_date": 1}


def test_killed_import_resumes_without_duplicates(tmp_path: Path) -> None:
    n_rows = 4000
    data = tmp_path / "big.csv"
    rng = random.Random(5)
    lines = ["id,content,published_at"]
    for i in range(n_rows):  # distinct texts: this test is about resuming, not about copies
        text = "".join(chr(rng.randrange(0x4E00, 0x9FA5)) for _ in range(30))
        lines.append(f"k{i},{text},2024-05-01 10:00")
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "kill.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    config = tmp_path / "config.yaml"
    config.write_text(
        f'app: {{author_hash_key: $env:TEST_AUTHOR_KEY}}\ndatabase: {{url: "sqlite:///{db}"}}\n'
        "logging: {level: WARNING}\n",
        encoding="utf-8",
    )
    command = [
        sys.executable,
        "-c",
        "from sensing.cli import main; main()",
        "--config",
        str(config),
        "import",
        str(data),
        "--source",
        "bulk",
        "--batch-size",
        "100",
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TEST_AUTHOR_KEY": "kill-test"}  # real data needs a key
    victim = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and count_documents(engine) < 500:
            time.sleep(0.05)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    stored = count_documents(engine)
    assert 0 < stored < n_rows, "the import should be killed part-way"
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resumed after record" in done.stdout
    assert count_documents(engine) == n_rows
    with engine.connect() as conn:
        distinct = conn.execute(select(func.count(func.distinct(s.documents.c.external_id)))).scalar_one()
    assert distinct == n_rows
    runs = ingest_runs(engine, "bulk")
    assert [r["status"] for r in runs] == ["failed", "ok"] and "interrupted" in runs[0]["error"]
    assert runs[1]["new"] == n_rows - stored and runs[1]["duplicates"] == 0
    engine.dispose()


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from datetime import UTC, datetime

    from ingest.http import parse_retry_after

    now = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Fri, 20 Nov 2026 08:00:30 GMT", now) == 30.0
    assert parse_retry_after("Fri, 20 Nov 2026 07:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None
