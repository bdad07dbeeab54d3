"""Shared fixtures: the same tests run on SQLite and on the real PostgreSQL server.

PostgreSQL is reached at ``SENSING_TEST_PG_URL`` (default: the local server, database ``test``).
Each test session creates its own database and drops it afterwards. When ``CI`` is set, an
unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, create_engine, text

from storage.db import make_engine
from storage.migrate import upgrade_database
from storage.schema import metadata

# One pytest worker per core (``make test``): each worker's torch and OpenMP keep to one thread, so
# two workers in encoder tests at once do not oversubscribe the CPU. Set before torch is imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# The real encoder tier on tiny heads fitted in the session (tests/encoder_heads.py).
pytest_plugins = ["tests.encoder_heads"]

PG_URL = os.environ.get("SENSING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SENSING_SHARED_DATA", REPO.parent / "shared" / "data"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files that hold slow tests run first, in their own order, the rest after them.

    ``make test`` gives each worker whole files in collection order (``--no-loadscope-reorder``), so
    the longest file (the whole-archive import) starting last would leave one worker running it
    alone at the end. xdist's default order (files with the most tests first) put it 101st of 114.
    """
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file keeps its tests' order


def _pg_admin() -> Engine | None:
    try:
        eng = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        return eng
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unreachable at {PG_URL} under CI: {exc}")
        return None


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session (dropped afterwards)."""
    admin = _pg_admin()
    if admin is None:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    name = f"sensing_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    migrated = make_engine(url)
    upgrade_database(migrated)
    migrated.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        eng = make_engine(url)
        upgrade_database(eng)
        eng.dispose()
        yield url
        return
    url = request.getfixturevalue("pg_url")
    eng = make_engine(url)
    _truncate_all(eng)
    eng.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty database, on SQLite and on PostgreSQL."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on the migrated, emptied PostgreSQL database only (tests about PostgreSQL itself)."""
    eng = make_engine(pg_url)
    _truncate_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite engine only (for tests that are about SQLite itself)."""
    eng = make_engine(f"sqlite:///{tmp_path / 'only.db'}")
    upgrade_database(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def shared_data() -> Path:
    """The real corpora folder; tests that need it skip only outside CI when it is missing."""
    if not SHARED_DATA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {SHARED_DATA}")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


class MailSink:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        self.messages.append(envelope)
        return "250 OK"


class PortZeroController(Controller):
    """aiosmtpd's Controller bound to port 0: learn the real port before the readiness probe."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_server() -> Iterator[tuple[PortZeroController, MailSink]]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd) and the sink holding what it received."""
    sink = MailSink()
    ctl = PortZeroController(sink, hostname="127.0.0.1", port=0)
    ctl.start()
    yield ctl, sink
    ctl.stop()


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
