"""The one HTTP client of the collectors: explicit time-outs, retries, a body-size limit.

Every HTTP source gets its :class:`httpx.Client` from a factory (:func:`make_client` by default;
tests inject their own) and fetches through :func:`fetch`, which

* retries HTTP 429 and 5xx, time-outs and refused connections with exponential back-off and
  jitter, honouring ``Retry-After`` (seconds or an HTTP date) up to ``max_retry_after_s``;
* streams the body and stops as soon as it exceeds ``max_bytes`` (a lying or missing
  ``Content-Length`` does not help a 50 MB answer through);
* turns every failure into the :mod:`ingest.base` error tree::

      RetriableSourceError   5xx / 429 after the last retry, time-out, connection refused
      FatalSourceError       other 4xx (wrong URL, wrong credentials)
      └── ResponseTooLargeError   the body is over the limit

Redirects are followed one hop at a time (at most :data:`MAX_REDIRECTS`): when a hop leaves the
origin (scheme, host and port) of the request, every header the source configured (its auth
header, ``Authorization``, API keys, conditional headers) is dropped, with ``Cookie`` and
``Proxy-Authorization``, so a feed that redirects elsewhere never receives our credentials.

Conditional GET: :func:`conditional_headers` builds ``If-None-Match`` / ``If-Modified-Since``
from a cursor and :func:`validators_from` takes ``ETag`` / ``Last-Modified`` back from a response.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from ingest.base import FatalSourceError, RetriableSourceError, Source

log = logging.getLogger(__name__)

USER_AGENT = "minsheng-collector/0.1 (+offline public-opinion sensing)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 10
ALWAYS_PRIVATE = frozenset({"authorization", "proxy-authorization", "cookie"})


class ResponseTooLargeError(FatalSourceError):
    """The response body is larger than the configured limit; it was not read to the end."""


class HttpPolicy(BaseModel):
    """Time-outs, retries and limits for one source's HTTP calls (part of its options)."""

    model_config = ConfigDict(extra="forbid")

    connect_timeout_s: float = Field(default=5.0, gt=0, le=120, description="TCP/TLS connect time-out")
    read_timeout_s: float = Field(default=20.0, gt=0, le=600, description="time-out between received bytes")
    retries: int = Field(default=3, ge=0, le=10, description="extra attempts after a retriable failure")
    backoff_s: float = Field(default=1.0, ge=0, le=60, description="first back-off; doubles each attempt")
    backoff_max_s: float = Field(default=30.0, ge=0, le=600, description="cap of one back-off")
    max_retry_after_s: float = Field(default=120.0, ge=0, le=3600, description="longest Retry-After honoured")
    max_bytes: int = Field(default=10_000_000, ge=1024, le=1_000_000_000, description="largest body accepted")
    user_agent: str = Field(default=USER_AGENT, description="User-Agent header")


ClientFactory = Callable[[HttpPolicy], httpx.Client]


def make_client(policy: HttpPolicy, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """The default client: explicit time-outs, redirects followed, our User-Agent."""
    timeout = httpx.Timeout(
        connect=policy.connect_timeout_s,
        read=policy.read_timeout_s,
        write=10.0,
        pool=policy.connect_timeout_s,
    )
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        headers={"User-Agent": policy.user_agent},
        transport=transport,
        trust_env=False,  # offline deployments: never pick up a proxy from the environment
    )


@dataclass
class HttpResult:
    """A fully read response."""

    status: int
    url: str
    headers: Mapping[str, str]
    content: bytes = b""
    attempts: int = 1
    waited_s: float = 0.0
    retry_log: list[str] = field(default_factory=list)

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _backoff(policy: HttpPolicy, attempt: int, rng: random.Random) -> float:
    base = min(policy.backoff_max_s, policy.backoff_s * (2**attempt))
    return base * (0.5 + rng.random() / 2)  # "equal jitter": never zero, never above the cap


def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ResponseTooLargeError(
            f"{response.url}: Content-Length {declared} over the {max_bytes}-byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ResponseTooLargeError(f"{response.url}: body over the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)


@contextmanager
def stream_following(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
) -> Iterator[httpx.Response]:
    """A streamed response after following redirects; configured headers never leave the origin."""
    request = client.build_request(method, url, headers=headers, params=params, json=json_body)
    private = ALWAYS_PRIVATE | {k.lower() for k in (headers or {})}
    for _hop in range(MAX_REDIRECTS + 1):
        response = client.send(request, stream=True, follow_redirects=False)
        following = response.next_request if response.is_redirect else None
        if following is None:
            try:
                yield response
            finally:
                response.close()
            return
        response.close()
        if _origin(following.url) != _origin(request.url):
            for name in [k for k in following.headers if k.lower() in private]:
                del following.headers[name]
            log.info("redirected from %s to another origin %s", request.url, following.url)
        request = following
    raise FatalSourceError(f"{url}: more than {MAX_REDIRECTS} redirects")


def fetch(
    client: httpx.Client,
    url: str,
    policy: HttpPolicy,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> HttpResult:
    """Fetch ``url`` with retries and the body-size limit.

    Returns the read response for 2xx and 304. Raises :class:`RetriableSourceError` once the
    retries are spent, :class:`FatalSourceError` for other 4xx/3xx answers and
    :class:`ResponseTooLargeError` for an oversized body.
    """
    rng = rng or random.Random()
    waited = 0.0
    notes: list[str] = []
    last_problem = ""
    for attempt in range(policy.retries + 1):
        delay: float | None = None
        try:
            with stream_following(
                client, method, url, headers=headers, params=params, json_body=json_body
            ) as response:
                status = response.status_code
                if status in RETRY_STATUSES:
                    last_problem = f"HTTP {status}"
                    delay = parse_retry_after(response.headers.get("retry-after"))
                    if delay is not None and delay > policy.max_retry_after_s:
                        raise RetriableSourceError(
                            f"{url}: HTTP {status} with Retry-After {delay:.0f}s over the "
                            f"{policy.max_retry_after_s:.0f}s we wait; try again later"
                        )
                elif status == 304 or 200 <= status < 300:
                    body = b"" if status == 304 else _read_limited(response, policy.max_bytes)
                    return HttpResult(
                        status, str(response.url), dict(response.headers), body, attempt + 1, waited, notes
                    )
                else:
                    raise FatalSourceError(f"{url}: HTTP {status} {response.reason_phrase}")
        except httpx.TimeoutException as exc:
            last_problem = f"time-out ({type(exc).__name__})"
        except httpx.TransportError as exc:  # refused, reset, DNS, protocol errors
            last_problem = f"{type(exc).__name__}: {exc}"
        if attempt == policy.retries:
            break
        wait = delay if delay is not None else _backoff(policy, attempt, rng)
        notes.append(f"attempt {attempt + 1}: {last_problem}; retrying in {wait:.2f}s")
        log.info("retrying %s after %s in %.2fs", url, last_problem, wait)
        sleep(wait)
        waited += wait
    raise RetriableSourceError(f"{url}: {last_problem} after {policy.retries + 1} attempts")


def conditional_headers(cursor: Mapping[str, Any]) -> dict[str, str]:
    """``If-None-Match`` / ``If-Modified-Since`` for the validators stored in ``cursor``."""
    out: dict[str, str] = {}
    if cursor.get("etag"):
        out["If-None-Match"] = str(cursor["etag"])
    if cursor.get("last_modified"):
        out["If-Modified-Since"] = str(cursor["last_modified"])
    return out


def validators_from(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``ETag`` / ``Last-Modified`` of a response, keyed as :func:`conditional_headers` reads them."""
    lowered = {k.lower(): v for k, v in headers.items()}
    out: dict[str, str] = {}
    if lowered.get("etag"):
        out["etag"] = lowered["etag"]
    if lowered.get("last-modified"):
        out["last_modified"] = lowered["last-modified"]
    return out


def content_charset(headers: Mapping[str, str]) -> str | None:
    """The ``charset`` parameter of the Content-Type header, lower-cased."""
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    for part in ctype.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ").lower()
    return None


class HttpSource(Source):
    """Base of sources that poll over HTTP: an injectable client factory and sleep (for tests)."""

    client_factory: ClientFactory = staticmethod(make_client)  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sleep: Callable[[float], None] = time.sleep
