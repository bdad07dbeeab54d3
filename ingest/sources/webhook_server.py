"""The receiving side of ``webhook`` sources: a Starlette app served by uvicorn.

See :mod:`ingest.sources.webhook` for the protocol and the spool, and
:mod:`ingest.sources.webhook_guard` for the limits (header and body time-outs, the connection
cap, JSON depth and lone surrogates) and the optional body signature. The spool is written in a
worker thread, never on the event loop. :class:`WebhookServer` binds its own socket (``port: 0``
picks a free one) and runs uvicorn in a background thread, or in the calling thread with
:meth:`WebhookServer.serve_forever`.
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ingest.base import FatalSourceError
from ingest.sources.webhook import PushedItem, WebhookSource
from ingest.sources.webhook_guard import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    json_problem,
    protocol_with_timeout,
    signature_problem,
)


def build_webhook_app(source: WebhookSource) -> Any:
    """The Starlette app receiving pushes for ``source``."""
    import anyio
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    opts = source.options
    expected = source.token().encode("utf-8")
    signing_key = _signing_key(source)
    spool = source.spool

    def authorised(request: Request) -> bool:
        given = request.headers.get("x-token") or ""
        auth = request.headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode("utf-8"), expected)

    async def read_limited(request: Request) -> bytes | None:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > opts.max_body_bytes:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > opts.max_body_bytes:
                return None
        return bytes(body)

    async def push(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"error": "missing or wrong token"}, status_code=401)
        try:
            with anyio.fail_after(opts.body_timeout_s):
                body = await read_limited(request)
        except TimeoutError:
            return JSONResponse(
                {"error": f"body not received within {opts.body_timeout_s:.0f}s"},
                status_code=408,
                headers={"Connection": "close"},
            )
        if body is None:
            return JSONResponse({"error": f"body over {opts.max_body_bytes} bytes"}, status_code=413)
        if signing_key is not None:
            problem = signature_problem(
                signing_key,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                body,
                opts.hmac_window_s,
                time.time(),
            )
            if problem:
                return JSONResponse({"error": f"signature refused: {problem}"}, status_code=401)
        try:
            document = json.loads(body)
        except ValueError as exc:  # malformed, not UTF-8/16/32, or a number of over 4300 digits
            return JSONResponse({"error": f"invalid JSON: {exc}"}, status_code=400)
        except RecursionError:
            document, problem = None, "JSON nested too deeply"
        else:
            problem = json_problem(document)
        if problem:
            return JSONResponse({"error": f"invalid JSON: {problem}"}, status_code=400)
        raw = document.get("items") if isinstance(document, dict) and "items" in document else document
        records = raw if isinstance(raw, list) else [raw]
        if len(records) > opts.max_items:
            return JSONResponse({"error": f"more than {opts.max_items} items"}, status_code=413)
        accepted: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        received = datetime.now(UTC).isoformat()
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                rejected.append({"index": i, "error": "not a JSON object"})
                continue
            try:
                item = PushedItem.model_validate(record)
            except ValidationError as exc:
                rejected.append({"index": i, "error": "; ".join(e["msg"] for e in exc.errors())[:300]})
                continue
            if not item.has_text():
                rejected.append({"index": i, "error": "no content, text or title"})
                continue
            accepted.append({**record, "received_at": received})
        if accepted:
            await run_in_threadpool(spool.append, accepted)  # flock + fsync: off the event loop
        status = 202 if accepted or not rejected else 422
        return JSONResponse({"accepted": len(accepted), "rejected": rejected}, status_code=status)

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "source": source.name})

    return Starlette(routes=[Route(opts.path, push, methods=["POST"]), Route("/healthz", health)])


def _signing_key(source: WebhookSource) -> bytes | None:
    """The body-signature secret when one is configured (refuses to start when it is unset)."""
    ref = source.options.hmac_secret
    if ref is None:
        return None
    from kernel.settings import resolve_secret

    value = resolve_secret(ref)
    if not value:
        raise FatalSourceError(f"webhook {source.name}: hmac_secret {ref} is not set")
    return value.encode("utf-8")


class WebhookServer:
    """Runs the endpoint with uvicorn in a background thread (``port: 0`` picks a free port)."""

    def __init__(self, source: WebhookSource) -> None:
        import uvicorn

        self.source = source
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((source.options.host, source.options.port))
        opts = source.options
        config = uvicorn.Config(
            build_webhook_app(source),
            log_level="warning",
            lifespan="off",
            access_log=False,
            http=protocol_with_timeout(opts.header_timeout_s),
            limit_concurrency=opts.max_connections,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}{self.source.options.path}"

    def start(self, timeout: float = 10.0) -> WebhookServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def serve_forever(self) -> None:
        """Run in the calling thread (for ``sensing run``)."""
        self.server.run(sockets=[self.sock])
