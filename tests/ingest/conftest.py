"""Fixtures for ingestion tests: a real scripted HTTP server on 127.0.0.1 and pipeline helpers.

:class:`ScriptedServer` answers each path with the replies queued for it, in order (the last one
repeats), and records every request; a reply may be a function of the request (for pagination).
Replies can be delayed (time-outs), streamed in chunks without a length (size limits), or cut
off mid-body (truncated feeds). No test reaches the network.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, func, select

from ingest.pipeline import Ingestor
from storage import schema as s
from storage.store import Store

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass
class Reply:
    """One scripted HTTP answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunked: bool = False  # stream without Content-Length
    chunk_size: int = 1 << 20
    repeat_body: int = 1  # send ``body`` this many times (large bodies without large memory)

    @classmethod
    def json(cls, document: Any, **kwargs: Any) -> Reply:
        headers = {"Content-Type": "application/json; charset=utf-8", **kwargs.pop("headers", {})}
        return cls(body=json.dumps(document, ensure_ascii=False).encode("utf-8"), headers=headers, **kwargs)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Script = Reply | Callable[[Request], Reply]


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1:<free port> serving queued replies per path."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Script]] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, parts.path, parse_qs(parts.query), dict(self.headers), body)
                reply = server.next_reply(request)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    if reply.chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for _ in range(reply.repeat_body):
                            for i in range(0, len(reply.body), reply.chunk_size):
                                chunk = reply.body[i : i + reply.chunk_size]
                                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.send_header("Content-Length", str(len(reply.body) * reply.repeat_body))
                        self.end_headers()
                        if self.command != "HEAD":
                            for _ in range(reply.repeat_body):
                                self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (size limit, time-out): expected

            do_GET = do_POST = do_HEAD = _serve  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def next_reply(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self.routes.get(request.path)
            if not queue:
                return Reply(404, b"not found")
            script = queue.pop(0) if len(queue) > 1 else queue[0]
        return script(request) if callable(script) else script

    def set(self, path: str, *replies: Script) -> None:
        """Queue ``replies`` for ``path`` (replacing earlier ones); the last one repeats."""
        with self._lock:
            self.routes[path] = list(replies)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def http_server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


FAST_HTTP = {
    "retries": 2,
    "backoff_s": 0.01,
    "backoff_max_s": 0.05,
    "read_timeout_s": 2.0,
    "connect_timeout_s": 1.0,
}


@pytest.fixture
def store(engine: Engine) -> Store:
    return Store(engine)


@pytest.fixture
def ingestor(store: Store) -> Ingestor:
    return Ingestor(store, author_key="test-key", warm_days=30)


def count_documents(engine: Engine, source: str | None = None) -> int:
    q = select(func.count()).select_from(s.documents.join(s.sources))
    if source:
        q = q.where(s.sources.c.name == source)
    with engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def documents(engine: Engine, source: str | None = None) -> list[dict[str, Any]]:
    q = select(s.documents).join(s.sources).order_by(s.documents.c.id)
    if source:
        q = q.where(s.sources.c.name == source)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def ingest_runs(engine: Engine, source: str | None = None) -> list[dict[str, Any]]:
    q = select(s.ingest_runs).join(s.sources).order_by(s.ingest_runs.c.id)
    if source:
        q = q.where(s.sources.c.name == source)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
