"""WebhookSource: the endpoint (token, size limit, validation) on a real port, and the durable spool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingest.registry import build_source
from ingest.sources.webhook import WebhookSource
from ingest.sources.webhook_server import WebhookServer

TOKEN = "push-token-for-tests"


@pytest.fixture
def webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WebhookSource, str]]:
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    source = build_source(
        "pushed",
        "webhook",
        {
            "token": "$env:TEST_WEBHOOK_TOKEN",
            "port": 0,
            "spool_dir": str(tmp_path / "spool"),
            "max_body_bytes": 4096,
        },
        channel=None,
        timezone="Asia/Shanghai",
    )
    assert isinstance(source, WebhookSource)
    server = WebhookServer(source).start()
    yield source, server.url
    server.stop()


def push(url: str, body: object, token: str = TOKEN, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    return httpx.post(url, content=content, headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]


def test_accepts_items_and_fetch_drains_the_spool(webhook: tuple[WebhookSource, str]) -> None:
    source, url = webhook
    answer = push(
        url,
        {
            "items": [
                {
                    "id": "w1",
                    "content": "社区门口井盖缺失，很危险",
                    "published_at": "2024-05-01 08:00",
                    "region": "岳麓区",
                },
                {"id": "w2", "text": "公园的健身器材坏了", "channel": "hotline", "likes": 3, "ticket": "T-9"},
            ]
        },
    )
    assert answer.status_code == 202 and answer.json() == {"accepted": 2, "rejected": []}
    assert push(url, {"id": "w3", "title": "只有标题也可以"}).status_code == 202
    batches = list(source.fetch({}))
    items = [i for b in batches for i in b.items]
    assert [i.external_id for i in items] == ["w1", "w2", "w3"]
    assert (
        items[0].published_at is not None and items[0].published_at.isoformat() == "2024-05-01T00:00:00+00:00"
    )
    assert items[0].region_hint == "岳麓区" and items[1].channel == "hotline" and items[1].likes == 3
    assert items[1].extra == {"ticket": "T-9"}
    json.dumps(batches[-1].cursor)
    assert source.spool.segments() == []  # drained segments are deleted once committed
    assert list(b.items for b in source.fetch(batches[-1].cursor)) == []


def test_wrong_or_missing_token_is_refused(webhook: tuple[WebhookSource, str]) -> None:
    source, url = webhook
    assert push(url, {"id": "x", "content": "内容"}, token="wrong").status_code == 401
    assert httpx.post(url, json={"id": "x", "content": "内容"}, timeout=5).status_code == 401
    assert (
        httpx.post(
            url, json={"id": "x", "content": "内容"}, headers={"X-Token": TOKEN}, timeout=5
        ).status_code
        == 202
    )
    assert [i.external_id for b in source.fetch({}) for i in b.items] == ["x"]


def test_oversized_invalid_and_textless_bodies(webhook: tuple[WebhookSource, str]) -> None:
    source, url = webhook
    big = {"id": "big", "content": "很长" * 5000}
    assert push(url, big).status_code == 413
    assert push(url, b'{"id": "x", "content": "unterminated').status_code == 400
    answer = push(
        url,
        [{"id": "a"}, {"id": "b", "content": "正常内容"}, "text", {"id": "c", "likes": -1, "content": "x"}],
    )
    assert answer.status_code == 202
    rejected = {r["index"] for r in answer.json()["rejected"]}
    assert answer.json()["accepted"] == 1 and rejected == {0, 2, 3}
    assert push(url, [{"id": "only-bad"}]).status_code == 422
    assert [i.external_id for b in source.fetch({}) for i in b.items] == ["b"]


def test_restart_resumes_inside_a_segment(webhook: tuple[WebhookSource, str]) -> None:
    source, url = webhook
    source.options.batch_size = 2
    push(url, [{"id": f"r{i}", "content": f"第{i}条"} for i in range(5)])
    gen = source.fetch({})
    first = next(gen)
    gen.close()  # the process dies after committing the first batch
    assert source.spool.segments()  # not deleted: not fully committed
    rest = [i.external_id for b in source.fetch(first.cursor) for i in b.items]
    assert [i.external_id for i in first.items] == ["r0", "r1"] and rest == ["r2", "r3", "r4"]


def test_check_needs_the_token(webhook: tuple[WebhookSource, str], monkeypatch: pytest.MonkeyPatch) -> None:
    source, _url = webhook
    assert source.check().ok
    monkeypatch.delenv("TEST_WEBHOOK_TOKEN")
    health = source.check()
    assert not health.ok and "TEST_WEBHOOK_TOKEN" in health.detail


def test_supervisor_helpers_receive_and_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.runner import ingest_sources, start_webhook_servers
    from sensing.settings import Settings
    from storage.db import make_engine
    from storage.migrate import upgrade_database
    from storage.store import Store

    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    monkeypatch.setenv("TEST_AUTHOR_KEY", "webhook-test")  # real sources need app.author_hash_key
    settings = Settings.model_validate(
        {
            "app": {"data_dir": str(tmp_path / "var"), "author_hash_key": "$env:TEST_AUTHOR_KEY"},
            "sources": [
                {
                    "name": "pushed",
                    "kind": "webhook",
                    "options": {"token": "$env:TEST_WEBHOOK_TOKEN", "port": 0},
                }
            ],
        }
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade_database(engine)
    (server,) = start_webhook_servers(settings)
    try:
        assert push(server.url, [{"id": "s1", "content": "推送到监听端口"}]).status_code == 202
    finally:
        server.stop()
    assert (tmp_path / "var" / "spool" / "pushed").is_dir()  # spool under app.data_dir
    (report,) = ingest_sources(settings, Store(engine))
    assert (report.status, report.new) == ("ok", 1)
    engine.dispose()
