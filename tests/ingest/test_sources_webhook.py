"""WebhookSource: the endpoint (token, size limit, validation) on a real port, and the durable spool."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ingest.base import FatalSourceError
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


def push(
    url: str, body: object, token: str = TOKEN, headers: dict[str, str] | None = None, **kwargs: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **(headers or {})}
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
    from kernel.settings import Settings
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


@contextmanager
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> Iterator[str]:
    """A webhook endpoint with extra ``options``; yields its URL."""
    monkeypatch.setenv("TEST_WEBHOOK_TOKEN", TOKEN)
    source = build_source(
        "guarded",
        "webhook",
        {"token": "$env:TEST_WEBHOOK_TOKEN", "port": 0, "spool_dir": str(tmp_path / "spool"), **options},
        channel=None,
        timezone="Asia/Shanghai",
    )
    assert isinstance(source, WebhookSource)
    server = WebhookServer(source).start()
    try:
        yield server.url
    finally:
        server.stop()


def raw_connection(url: str) -> socket.socket:
    parts = httpx.URL(url)
    sock = socket.create_connection((parts.host, parts.port), timeout=5)
    return sock


def test_a_slow_request_head_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver(tmp_path, monkeypatch, header_timeout_s=0.5) as url:
        sock = raw_connection(url)
        with sock:
            sock.sendall(b"POST /push HTTP/1.1\r\nHost: x\r\n")  # ... and the rest never comes
            started = time.monotonic()
            try:
                closed = sock.recv(1024) == b""
            except TimeoutError:
                closed = False
            assert closed and time.monotonic() - started < 4, "a slowloris head kept its connection"
        assert push(url, {"id": "ok", "content": "正常推送"}).status_code == 202


def test_a_slow_body_is_answered_408(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver(tmp_path, monkeypatch, body_timeout_s=0.5) as url:
        sock = raw_connection(url)
        with sock:
            sock.sendall(
                b"POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n".encode()
                + b'{"id": "slow", '
            )
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                answer = b""
            assert answer.startswith(b"HTTP/1.1 408"), answer


def test_connections_over_the_cap_get_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver(tmp_path, monkeypatch, max_connections=3) as url:
        idle = [raw_connection(url) for _ in range(3)]
        try:
            time.sleep(0.2)
            assert push(url, {"id": "x", "content": "第四个连接"}).status_code == 503
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 5
        while (status := push(url, {"id": "y", "content": "连接已释放"}).status_code) == 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status == 202


def test_deep_json_and_lone_surrogates_are_400_not_500(
    webhook: tuple[WebhookSource, str],
) -> None:
    source, url = webhook
    assert push(url, b"[" * 2000 + b"]" * 2000).status_code == 400  # past the parser's recursion limit
    nested = {"id": "deep", "content": "x", "extra": json.loads("[" * 40 + "]" * 40)}
    assert push(url, nested).status_code == 400
    lone = push(url, b'{"id": "s1", "content": "\\ud800 half a character"}')
    assert lone.status_code == 400 and "surrogate" in lone.json()["error"]
    pair = push(url, b'{"id": "s2", "content": "\\ud83d\\ude00 a whole one"}')  # a valid pair is text
    assert pair.status_code == 202
    assert [i.content for b in source.fetch({}) for i in b.items] == ["\U0001f600 a whole one"]


def test_spool_writes_do_not_block_other_requests(
    webhook: tuple[WebhookSource, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.sources.webhook import Spool

    _source, url = webhook
    original = Spool.append

    def slow_append(self: Spool, records: list[dict[str, object]]) -> None:
        time.sleep(1.5)  # a slow disk: fsync under the lock
        original(self, records)

    monkeypatch.setattr(Spool, "append", slow_append)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(push, url, {"id": "slow-disk", "content": "写得慢"})
        time.sleep(0.3)
        health = httpx.get(url.rsplit("/", 1)[0] + "/healthz", timeout=0.8)
        assert health.status_code == 200
        assert pending.result().status_code == 202


def test_signed_pushes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PUSH_HMAC", "hmac-secret")
    with receiver(tmp_path, monkeypatch, hmac_secret="$env:TEST_PUSH_HMAC", hmac_window_s=60) as url:
        body = json.dumps({"id": "signed", "content": "签名推送"}, ensure_ascii=False).encode()

        def signed(ts: int, payload: bytes = body, key: bytes = b"hmac-secret") -> int:
            digest = hmac.new(key, str(ts).encode() + b"." + payload, hashlib.sha256).hexdigest()
            headers = {"X-Minsheng-Timestamp": str(ts), "X-Minsheng-Signature": "sha256=" + digest}
            return push(url, body, headers=headers).status_code

        now = int(time.time())
        assert push(url, body).status_code == 401  # unsigned
        assert signed(now, key=b"wrong") == 401
        assert signed(now, payload=body + b" ") == 401  # the body was changed on the way
        assert signed(now - 120) == 401  # a replay from two minutes ago
        assert signed(now) == 202
    monkeypatch.delenv("TEST_PUSH_HMAC")
    with (
        pytest.raises(FatalSourceError, match="TEST_PUSH_HMAC"),
        receiver(tmp_path, monkeypatch, hmac_secret="$env:TEST_PUSH_HMAC"),
    ):
        pass


def test_receiver_options_are_checked() -> None:
    from pydantic import ValidationError

    from ingest.sources.webhook import WebhookOptions

    base = {"token": "$env:T"}
    with pytest.raises(ValidationError, match="never a literal"):
        WebhookOptions.model_validate({**base, "hmac_secret": "literal-secret"})
    with pytest.raises(ValidationError, match="header_timeout_s"):
        WebhookOptions.model_validate({**base, "header_timeout_s": 0})
    opts = WebhookOptions.model_validate({**base, "hmac_secret": "$file:/run/secrets/push"})
    assert (opts.header_timeout_s, opts.body_timeout_s, opts.max_connections) == (10.0, 30.0, 100)


def test_a_number_too_long_to_convert_is_400(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver(tmp_path, monkeypatch, max_body_bytes=20_000) as url:
        answer = push(url, b'{"id": "n", "content": "x", "likes": ' + b"1" * 5000 + b"}")
        assert answer.status_code == 400 and "invalid JSON" in answer.json()["error"]
