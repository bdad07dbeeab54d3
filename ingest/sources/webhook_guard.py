"""What the webhook receiver enforces around a push: time limits, a connection cap, signatures, sane JSON.

* **Header time-out**: a connection must deliver a complete request head (request line and
  headers) within ``header_timeout_s`` of connecting (or of the previous answer on a kept-alive
  connection); a client that trickles bytes (slowloris) is disconnected.
* **Body time-out**: the body must arrive within ``body_timeout_s`` of the head (answer 408).
* **Connection cap**: at most ``max_connections`` connections; beyond it requests are answered
  503 (uvicorn's ``limit_concurrency``).
* **Body signature** (optional, for senders that support it): with ``hmac_secret`` set, a push
  must carry ``X-Minsheng-Timestamp`` (Unix seconds, within ``hmac_window_s`` of our clock) and
  ``X-Minsheng-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>." + body`` under the
  secret: the format of Minsheng's own webhook notifier. The token is still required.
* **JSON shape**: nesting deeper than :data:`MAX_JSON_DEPTH` and strings holding lone UTF-16
  surrogates (``"\\ud800"``, which no UTF-8 file can store) are answered 400, not 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 32
TIMESTAMP_HEADER = "x-minsheng-timestamp"
SIGNATURE_HEADER = "x-minsheng-signature"


class ReceiverOptions(BaseModel):
    """Limits and the optional signature of a ``webhook`` source's receiving endpoint."""

    model_config = ConfigDict(extra="forbid")

    header_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="time a connection has to send a complete request head"
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, description="time a request has to send its whole body"
    )
    max_connections: int = Field(
        default=100, ge=2, le=10_000, description="concurrent connections; further requests get 503"
    )
    hmac_secret: str | None = Field(
        default=None, description="optional body-signature secret reference: $env:NAME or $file:PATH"
    )
    hmac_window_s: int = Field(
        default=300, ge=1, le=86_400, description="largest clock difference accepted for a signed push"
    )

    @field_validator("hmac_secret")
    @classmethod
    def _hmac_secret_ref(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("$env:", "$file:")):
            raise ValueError("a secret reference '$env:NAME' or '$file:PATH', never a literal secret")
        return v


def sign_body(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``"<timestamp>." + body``."""
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_problem(
    secret: bytes, timestamp: str | None, signature: str | None, body: bytes, window_s: float, now: float
) -> str | None:
    """Why a signed push is refused, or None when the signature and the timestamp are good."""
    if not timestamp or not signature:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header"
    if not timestamp.isdigit():
        return f"{TIMESTAMP_HEADER} must be Unix seconds"
    if abs(now - int(timestamp)) > window_s:
        return f"{TIMESTAMP_HEADER} is more than {window_s:.0f}s away from the receiver's clock"
    if not hmac.compare_digest(
        signature.strip().encode("utf-8"), sign_body(secret, timestamp, body).encode()
    ):
        return "wrong signature"
    return None


def json_problem(document: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a parsed JSON document is refused (too deep, lone surrogates), or None. Iterative."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth > max_depth:
            return f"JSON nested deeper than {max_depth} levels"
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children)
    return None


def protocol_with_timeout(header_timeout_s: float) -> type[Any]:
    """uvicorn's h11 protocol with a time limit on receiving each request head.

    Imported lazily so that reading the spool does not load the web server.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._start_head_timer()  # the next request on a kept-alive connection: the same limit

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

        def _start_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            if not self.transport.is_closing():
                self._head_timer = self.loop.call_later(header_timeout_s, self._head_timed_out)

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                log.info("closing a connection that sent no complete request head in %.0fs", header_timeout_s)
                self.transport.close()

    return GuardedH11Protocol
