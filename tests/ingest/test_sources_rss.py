"""RssSource against a real local server: the feeds in tests/data/ingest carry their expectations."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from ingest.registry import build_source
from ingest.sources.rss import RssSource, decode_feed
from tests.ingest.conftest import DATA, FAST_HTTP, Reply, ScriptedServer

CASES = json.loads((DATA / "ingest" / "feed_cases.json").read_text(encoding="utf-8"))
FEEDS = sorted(k for k in CASES if not k.startswith("_"))


def rss_source(url: str, **options: object) -> RssSource:
    source = build_source(
        "feed", "rss", {"url": url, "http": FAST_HTTP, **options}, channel=None, timezone="Asia/Shanghai"
    )
    assert isinstance(source, RssSource)
    return source


@pytest.mark.parametrize("name", FEEDS)
def test_feed_cases(http_server: ScriptedServer, name: str) -> None:
    case = CASES[name]
    body = (DATA / "ingest" / name).read_bytes()
    http_server.set("/feed.xml", Reply(body=body, headers={"Content-Type": case["content_type"]}))
    batches = list(rss_source(http_server.url("/feed.xml")).fetch({}))
    items = [i for b in batches for i in b.items]
    assert [i.external_id for i in items] == case["ids"]
    assert [i.title for i in items] == case["titles"]
    assert [i.url for i in items] == case["urls"]
    published = [i.published_at.isoformat() if i.published_at else None for i in items]
    assert published == case["published"]
    for item in items:
        assert sorted(item.extra.get("flags", [])) == sorted(case["flags"])
        assert item.content  # body text survived decoding
    json.dumps(batches[-1].cursor)  # JSON-serialisable


def test_html_body_and_relative_links_are_kept_for_cleaning(http_server: ScriptedServer) -> None:
    http_server.set("/feed.xml", Reply(body=(DATA / "ingest" / "rss_utf8.xml").read_bytes()))
    first = next(iter(rss_source(http_server.url("/feed.xml")).fetch({}))).items[0]
    assert "<b>人民路</b>" in first.content  # normalize_text strips it in the pipeline
    assert first.url and first.url.startswith("https://www.example.gov.cn/")


def test_conditional_get_uses_stored_validators(http_server: ScriptedServer) -> None:
    body = (DATA / "ingest" / "rss_utf8.xml").read_bytes()
    validators = {"ETag": '"v1"', "Last-Modified": "Wed, 01 May 2024 02:00:00 GMT"}

    def answer(request: object) -> Reply:
        if getattr(request, "headers", {}).get("If-None-Match") == '"v1"':
            return Reply(304, headers=validators)
        return Reply(body=body, headers=validators)

    http_server.set("/feed.xml", answer)
    source = rss_source(http_server.url("/feed.xml"))
    first = list(source.fetch({}))
    cursor = first[-1].cursor
    assert cursor["etag"] == '"v1"' and cursor["last_modified"].startswith("Wed, 01 May 2024")
    assert len(first[0].items) == 3
    assert list(source.fetch(cursor)) == []  # 304: nothing fetched, cursor unchanged
    second = http_server.hits("/feed.xml")[-1]
    assert second.headers["If-None-Match"] == '"v1"'
    assert second.headers["If-Modified-Since"] == "Wed, 01 May 2024 02:00:00 GMT"


def test_seen_ids_stop_reimports_when_server_ignores_validators(http_server: ScriptedServer) -> None:
    http_server.set("/feed.xml", Reply(body=(DATA / "ingest" / "rss_utf8.xml").read_bytes()))
    source = rss_source(http_server.url("/feed.xml"))
    cursor = list(source.fetch({}))[-1].cursor
    again = list(source.fetch(cursor))
    assert sum(len(b.items) for b in again) == 0


def test_truncated_feed_keeps_entries_and_is_fetched_whole_next_time(http_server: ScriptedServer) -> None:
    truncated = (DATA / "ingest" / "rss_truncated.xml").read_bytes()
    full = (DATA / "ingest" / "rss_utf8.xml").read_bytes()
    http_server.set("/feed.xml", Reply(body=truncated, headers={"ETag": '"t"'}), Reply(body=full))
    source = rss_source(http_server.url("/feed.xml"))
    batch = list(source.fetch({}))[-1]
    assert [i.external_id for i in batch.items] == ["gov-001", "gov-002"]
    assert batch.cursor["etag"] is None  # a broken copy is not a version to revalidate
    assert [reason for _, reason in batch.skipped] == ["empty_entry"]  # the cut-off <item>
    rest = list(source.fetch(batch.cursor))[-1]
    assert [i.external_id for i in rest.items] == ["gov-003"]
    assert "If-None-Match" not in http_server.hits("/feed.xml")[-1].headers


def test_decode_feed_prefers_valid_utf8_and_reads_gbk() -> None:
    text = "<?xml version='1.0' encoding='gbk'?><rss>市民热线</rss>"
    assert decode_feed(text.encode("gbk")) == (text, [])
    assert decode_feed(text.encode("utf-8"))[1] == ["encoding_mismatch"]  # says GBK, is UTF-8
    text, flags = decode_feed(b"<rss>\x80\xff</rss>")
    assert flags == ["encoding_errors"] and text.startswith("<rss>")


def test_check_reports_entries_and_failures(http_server: ScriptedServer) -> None:
    http_server.set("/feed.xml", Reply(body=(DATA / "ingest" / "atom.xml").read_bytes()))
    assert rss_source(http_server.url("/feed.xml")).check().ok
    http_server.set("/gone.xml", Reply(404, b"gone"))
    health = rss_source(http_server.url("/gone.xml")).check()
    assert not health.ok and "404" in health.detail


def test_options_are_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        RssSource.options_model.model_validate({"url": "ftp://example.com/feed"})
    with pytest.raises(ValidationError):
        RssSource.options_model.model_validate({"url": "https://example.com/feed", "unknown": 1})


def test_missing_dates_stay_missing(http_server: ScriptedServer) -> None:
    http_server.set("/feed.xml", Reply(body=(DATA / "ingest" / "rss_utf8.xml").read_bytes()))
    items = next(iter(rss_source(http_server.url("/feed.xml")).fetch({}))).items
    assert items[2].published_at is None  # the pipeline stamps fetch time and flags it
    assert all(isinstance(i.published_at, datetime) for i in items[:2])
