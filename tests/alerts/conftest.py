"""Real local receivers for the notifier tests: an HTTP server and an SMTP server on 127.0.0.1, port 0."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from sqlalchemy import Engine

from kernel.settings import Settings
from sensing.app import App

NOW = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)  # 14:30 Beijing time


@dataclass
class Received:
    """One request the HTTP receiver got."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class HttpReceiver:
    """Records every POST; answers with the queued replies (then with the default one)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    default: tuple[int, dict[str, Any]] = (200, {"errcode": 0, "code": 0, "errmsg": "ok"})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def idempotency_keys(self) -> list[str]:
        return [r.headers.get("idempotency-key", "") for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    state = HttpReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            with state.lock:
                state.requests.append(
                    Received(
                        parts.path,
                        parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                    )
                )
                status, reply = state.replies.pop(0) if state.replies else state.default
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def make_app(engine: Engine, alerts: dict[str, Any], **extra: Any) -> App:
    """An App on ``engine`` with the given ``alerts`` section."""
    settings = Settings.model_validate({"alerts": alerts, **extra})
    return App(settings=settings, _engine=engine)


def write_config(tmp_path: Path, db_url: str, alerts: dict[str, Any], **extra: Any) -> Path:
    data = {
        "database": {"url": db_url},
        "app": {"data_dir": str(tmp_path / "var")},
        "alerts": alerts,
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path
