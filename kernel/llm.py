"""A small client for an OpenAI-compatible chat endpoint: the office's own large model.

On-premises servers (vLLM, Ollama, Xinference, ...) expose ``POST {base_url}/chat/completions``;
this client speaks that with plain httpx, at temperature 0, with an explicit timeout. Every call,
failed or not, is handed to the ``record`` callback as a :class:`CallRecord` (model, prompt hash,
tokens, latency, outcome) so the caller can store it; the prompt itself is not recorded.

Exceptions::

    LlmError                      outcome
    ├── LlmTimeoutError           "timeout"       no answer within llm.timeout_seconds
    ├── LlmRateLimitedError       "rate_limited"  429 after the retries
    ├── LlmUnavailableError       "unavailable"   connection refused, 5xx after the retries, other HTTP errors
    ├── LlmRefusedError           "refused"       the model declined (refusal, content filter, empty answer)
    └── LlmResponseError          "bad_response"  not the OpenAI response shape, malformed tool calls
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from kernel.settings import LlmSettings

log = logging.getLogger(__name__)
MAX_RETRY_AFTER_SECONDS = 10.0


class LlmError(Exception):
    """A call to the model did not give a usable answer."""

    outcome = "error"


class LlmTimeoutError(LlmError):
    outcome = "timeout"


class LlmRateLimitedError(LlmError):
    outcome = "rate_limited"


class LlmUnavailableError(LlmError):
    outcome = "unavailable"


class LlmRefusedError(LlmError):
    outcome = "refused"


class LlmResponseError(LlmError):
    outcome = "bad_response"


@dataclass(frozen=True)
class ToolCall:
    """One tool the model asked to run, its arguments parsed from JSON."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ChatResult:
    """The model's answer: text and/or tool calls, with the token counts the server reported."""

    text: str
    model: str
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class CallRecord:
    """What is kept of one call (never the prompt text)."""

    purpose: str
    model: str
    prompt_hash: str
    latency_ms: int
    outcome: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    attempts: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def prompt_hash(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None) -> str:
    """SHA-256 of the request's messages and tools (canonical JSON), to match a call with its prompt."""
    blob = json.dumps(
        {"messages": list(messages), "tools": list(tools or [])}, ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        wait = float(response.headers.get("retry-after", ""))
    except ValueError:
        wait = 0.5 * 2**attempt
    return max(0.0, min(wait, MAX_RETRY_AFTER_SECONDS))


def _parse_tool_calls(message: dict[str, Any]) -> tuple[ToolCall, ...]:
    calls = []
    for raw in message.get("tool_calls") or []:
        fn = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise LlmResponseError("malformed tool call: no function name")
        args = fn.get("arguments") or "{}"
        try:
            parsed = json.loads(args) if isinstance(args, str) else args
        except json.JSONDecodeError:
            raise LlmResponseError(f"malformed tool call {fn['name']!r}: arguments are not JSON") from None
        if not isinstance(parsed, dict):
            raise LlmResponseError(f"malformed tool call {fn['name']!r}: arguments are not an object")
        calls.append(ToolCall(fn["name"], parsed))
    return tuple(calls)


def parse_completion(body: Any, model: str) -> ChatResult:
    """The first choice of a ``chat.completion`` body; raises the matching :class:`LlmError`."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise LlmResponseError("not an OpenAI chat completion (no choices[0].message)") from None
    if not isinstance(message, dict):
        raise LlmResponseError("not an OpenAI chat completion (message is not an object)")
    finish = choice.get("finish_reason")
    text = message.get("content") or ""
    if not isinstance(text, str):
        raise LlmResponseError("message content is not text")
    if message.get("refusal"):
        raise LlmRefusedError(f"the model refused: {str(message['refusal'])[:200]}")
    if finish == "content_filter":
        raise LlmRefusedError("the server's content filter stopped the answer")
    tool_calls = _parse_tool_calls(message)
    if not text.strip() and not tool_calls:
        raise LlmRefusedError("the model gave an empty answer")
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    return ChatResult(
        text=text,
        model=str(body.get("model") or model),
        tool_calls=tool_calls,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        finish_reason=finish,
    )


class ChatClient:
    """Chat completions from the configured model; one :class:`CallRecord` per call.

    Args:
        settings: the ``llm`` section.
        api_key: the resolved secret (the caller resolves ``settings.api_key``), or None.
        record: called once per call with its :class:`CallRecord` (e.g. to store it).
        transport: an httpx transport for tests; the default is the network.
    """

    def __init__(
        self,
        settings: LlmSettings,
        api_key: str | None = None,
        record: Callable[[CallRecord], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self._record = record
        self._attempts = 0
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=settings.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_seconds),
            transport=transport,
            trust_env=False,  # never route the office's model through a proxy from the environment
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def chat(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        purpose: str = "briefing",
    ) -> ChatResult:
        """Send ``messages`` (already masked text only) and return the answer.

        Raises:
            LlmError: one of its subclasses; the call is recorded either way.
        """
        payload: dict[str, Any] = {
            "model": self.settings.model,
            "messages": list(messages),
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
            "stream": False,
        }
        if tools:
            payload["tools"] = list(tools)
        digest = prompt_hash(messages, tools)
        started = time.perf_counter()
        result: ChatResult | None = None
        error: LlmError | None = None
        try:
            result = self._send(payload)
        except LlmError as exc:
            error = exc
        finally:
            self._log_call(purpose, digest, started, result, error, max(self._attempts, 1))
        if error is not None:
            raise error
        assert result is not None
        return result

    def _send(self, payload: dict[str, Any]) -> ChatResult:
        self._attempts = 0
        for attempt in range(self.settings.max_retries + 1):
            self._attempts = attempt + 1
            try:
                response = self._http.post("/chat/completions", json=payload)
            except httpx.TimeoutException:
                raise LlmTimeoutError(f"no answer within {self.settings.timeout_seconds:g} s") from None
            except httpx.HTTPError as exc:
                raise LlmUnavailableError(f"cannot reach the model: {type(exc).__name__}") from None
            retryable = response.status_code == 429 or response.status_code >= 500
            if retryable and attempt < self.settings.max_retries:
                time.sleep(_retry_after(response, attempt))
                continue
            if response.status_code == 429:
                raise LlmRateLimitedError("the model server is busy (HTTP 429)")
            if response.status_code >= 400:
                raise LlmUnavailableError(f"the model server answered HTTP {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                raise LlmResponseError("the answer is not JSON") from None
            return parse_completion(body, self.settings.model)
        raise AssertionError("unreachable")  # pragma: no cover

    def _log_call(
        self,
        purpose: str,
        digest: str,
        started: float,
        result: ChatResult | None,
        error: LlmError | None,
        attempts: int,
    ) -> None:
        record = CallRecord(
            purpose=purpose,
            model=result.model if result else self.settings.model,
            prompt_hash=digest,
            latency_ms=round((time.perf_counter() - started) * 1000),
            outcome="ok" if error is None else error.outcome,
            prompt_tokens=result.prompt_tokens if result else None,
            completion_tokens=result.completion_tokens if result else None,
            error=None if error is None else str(error)[:500],
            attempts=attempts,
        )
        log.info(
            "llm call %s: %s in %d ms (%s attempt(s))", purpose, record.outcome, record.latency_ms, attempts
        )
        if self._record is not None:
            self._record(record)
