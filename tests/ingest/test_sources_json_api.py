"""JsonApiSource against a real local server: mapping, pagination, auth from the environment, presets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from ingest.base import FatalSourceError
from ingest.registry import build_source
from ingest.sources.json_api import JsonApiOptions, JsonApiSource
from tests.ingest.conftest import DATA, FAST_HTTP, Reply, Request, ScriptedServer

FIELDS = {
    "external_id": ["mid"],
    "content": ["body.text", "body.summary"],
    "title": "body.headline",
    "published_at": "created_at",
    "url": "link",
    "author": "user.name",
    "likes": "stats.likes",
    "reposts": "stats.reposts",
    "extra": {"tags": "tags"},
}


def api_source(url: str, **options: Any) -> JsonApiSource:
    opts = {"url": url, "http": FAST_HTTP, **options}
    source = build_source("api", "json_api", opts, channel=None, timezone="Asia/Shanghai")
    assert isinstance(source, JsonApiSource)
    return source


def post(i: int, when: str = "2024-05-01 10:00:00") -> dict[str, Any]:
    return {
        "mid": f"m{i}",
        "body": {"text": f"第{i}条：小区门口的路灯坏了很久", "headline": f"标题{i}"},
        "created_at": when,
        "link": f"https://example.com/p/{i}",
        "user": {"name": f"user{i}"},
        "stats": {"likes": i, "reposts": "1.5万"},
        "tags": ["路灯"],
    }


def test_dotted_field_mapping(http_server: ScriptedServer) -> None:
    http_server.set("/api", Reply.json({"data": {"list": [post(1), post(2)]}}))
    source = api_source(http_server.url("/api"), items_path="data.list", fields=FIELDS)
    batches = list(source.fetch({}))
    items = [i for b in batches for i in b.items]
    assert [i.external_id for i in items] == ["m1", "m2"]
    first = items[0]
    assert first.content.startswith("第1条") and first.title == "标题1" and first.author == "user1"
    assert first.likes == 1 and first.reposts == 15000 and first.extra == {"tags": ["路灯"]}
    assert first.published_at is not None and first.published_at.isoformat() == "2024-05-01T02:00:00+00:00"
    cursor = batches[-1].cursor
    assert cursor["last_time"] == "2024-05-01T02:00:00+00:00" and cursor["seen"] == ["m1", "m2"]
    json.dumps(cursor)


def test_page_pagination_stops_at_an_empty_page(http_server: ScriptedServer) -> None:
    pages = {1: [post(1), post(2)], 2: [post(3)], 3: []}

    def answer(request: Request) -> Reply:
        page = int(request.query["page"][0])
        assert request.query["size"] == ["2"]
        return Reply.json({"items": pages.get(page, [])})

    http_server.set("/api", answer)
    source = api_source(
        http_server.url("/api"),
        fields=FIELDS,
        pagination={"mode": "page", "page_param": "page", "size_param": "size", "page_size": 2},
    )
    batches = list(source.fetch({}))
    assert [i.external_id for b in batches for i in b.items] == ["m1", "m2", "m3"]
    assert len(http_server.hits("/api")) == 3
    # Intermediate batches do not move the time watermark (a crash mid-run must not skip pages).
    assert "last_time" not in batches[0].cursor and batches[-1].cursor["last_time"]


def test_cursor_pagination_follows_next_cursor(http_server: ScriptedServer) -> None:
    def answer(request: Request) -> Reply:
        token = request.query.get("cursor", [None])[0]
        if token is None:
            return Reply.json({"items": [post(1)], "paging": {"next": "abc"}})
        if token == "abc":
            return Reply.json({"items": [post(2)], "paging": {"next": ""}})
        return Reply(400, b"bad cursor")

    http_server.set("/api", answer)
    source = api_source(
        http_server.url("/api"),
        fields=FIELDS,
        pagination={"mode": "cursor", "next_cursor_path": "paging.next"},
    )
    assert [i.external_id for b in source.fetch({}) for i in b.items] == ["m1", "m2"]


def test_restart_from_cursor_yields_only_new_items(http_server: ScriptedServer) -> None:
    http_server.set("/api", Reply.json([post(1), post(2)]))
    source = api_source(http_server.url("/api"), fields=FIELDS)
    cursor = list(source.fetch({}))[-1].cursor
    http_server.set("/api", Reply.json([post(3, "2024-05-02 10:00"), post(1), post(2)]))
    assert [i.external_id for b in source.fetch(cursor) for i in b.items] == ["m3"]


def test_auth_header_comes_from_the_environment(
    http_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_server.set("/api", Reply.json([post(1)]))
    monkeypatch.setenv("TEST_API_TOKEN", "s3cret")
    monkeypatch.setenv("TEST_TENANT", "city-a")
    source = api_source(
        http_server.url("/api"),
        fields=FIELDS,
        auth_value="$env:TEST_API_TOKEN",
        auth_prefix="Bearer ",
        headers={"X-Tenant": "$env:TEST_TENANT", "Accept": "application/json"},
    )
    list(source.fetch({}))
    sent = http_server.hits("/api")[-1].headers
    assert sent["Authorization"] == "Bearer s3cret" and sent["X-Tenant"] == "city-a"
    monkeypatch.delenv("TEST_API_TOKEN")
    with pytest.raises(FatalSourceError, match="TEST_API_TOKEN"):
        list(source.fetch({}))


def test_credentials_stay_with_the_origin_across_redirects(
    http_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = ScriptedServer()  # another port: another origin
    other.thread.start()
    try:
        other.set("/api", Reply.json([post(1)]))
        http_server.set("/moved", Reply(302, headers={"Location": http_server.url("/api")}))
        http_server.set("/api", Reply(301, headers={"Location": other.url("/api")}))
        monkeypatch.setenv("TEST_API_KEY", "k-secret")
        monkeypatch.setenv("TEST_BEARER", "b-secret")
        source = api_source(
            http_server.url("/moved"),
            fields=FIELDS,
            auth_header="X-Api-Key",
            auth_value="$env:TEST_API_KEY",
            headers={"Authorization": "$env:TEST_BEARER", "Accept": "application/json"},
        )
        items = [i.external_id for b in source.fetch({}) for i in b.items]
        assert items == ["m1"]
        same_origin = http_server.hits("/api")[-1].headers  # /moved -> /api on the same origin
        assert same_origin["X-Api-Key"] == "k-secret" and same_origin["Authorization"] == "b-secret"
        elsewhere = {k.lower(): v for k, v in other.hits("/api")[-1].headers.items()}
        assert "x-api-key" not in elsewhere and "authorization" not in elsewhere, elsewhere
        assert "secret" not in " ".join(elsewhere.values())
    finally:
        other.httpd.shutdown()
        other.httpd.server_close()


def test_redirect_loops_end() -> None:
    from ingest.http import MAX_REDIRECTS

    server = ScriptedServer()
    server.thread.start()
    try:
        server.set("/loop", Reply(302, headers={"Location": server.url("/loop")}))
        with pytest.raises(FatalSourceError, match="redirects"):
            list(api_source(server.url("/loop"), fields=FIELDS).fetch({}))
        assert len(server.hits("/loop")) == MAX_REDIRECTS + 1
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def test_literal_secrets_are_refused() -> None:
    with pytest.raises(ValidationError, match="secret reference"):
        JsonApiOptions.model_validate({"url": "https://x.test/api", "fields": FIELDS, "auth_value": "s3cret"})
    with pytest.raises(ValidationError, match="preset"):
        JsonApiOptions.model_validate({"url": "https://x.test/api"})


def test_bad_records_are_rejected_with_reasons(http_server: ScriptedServer) -> None:
    bad_time = {**post(2), "created_at": "not a time"}
    no_id = {**post(3), "mid": None}
    http_server.set("/api", Reply.json([post(1), bad_time, no_id, "just a string"]))
    batch = next(iter(api_source(http_server.url("/api"), fields=FIELDS).fetch({})))
    assert [i.external_id for i in batch.items] == ["m1"]
    assert sorted(r.reason for r in batch.rejected) == [
        "invalid_date:created_at",
        "missing_id:mid",
        "not_an_object",
    ]


def test_weibo_hot_search_preset_reads_the_board(http_server: ScriptedServer) -> None:
    board = (DATA / "ingest" / "weibo_board.json").read_bytes()
    http_server.set("/hot", Reply(body=board, headers={"Content-Type": "application/json"}))
    source = api_source(http_server.url("/hot"), preset="weibo_hot_search")
    batch = next(iter(source.fetch({})))
    titles = [i.title for i in batch.items]
    assert titles == ["某地暴雨致道路积水", "地铁票价调整听证会", "高考志愿填报指南"]
    first, second, third = batch.items
    assert first.content.startswith("今日凌晨起强降雨") and first.extra["hot"] == 1865009
    assert first.extra["category"] == "社会"
    assert second.reads == 230_000_000 and second.comments == 12_000
    assert third.content == "高考志愿填报指南"  # no description: the title is the text
    assert first.published_at is not None  # a board has no times: fetch time
    assert first.external_id.startswith("某地暴雨致道路积水@")  # one item per title per day
    reasons = sorted([r for _, r in batch.skipped] + [r.reason for r in batch.rejected])
    assert reasons == ["filtered:ads", "missing_id:title"]


def test_check_probes_the_first_page(http_server: ScriptedServer) -> None:
    http_server.set("/api", Reply.json([post(1), post(2)]))
    health = api_source(http_server.url("/api"), fields=FIELDS).check()
    assert health.ok and "2 records" in health.detail
