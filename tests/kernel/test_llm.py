"""The OpenAI-compatible client against a scripted server on 127.0.0.1: each outcome is typed and recorded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kernel.llm import (
    CallRecord,
    ChatClient,
    LlmRateLimitedError,
    LlmRefusedError,
    LlmResponseError,
    LlmTimeoutError,
    LlmUnavailableError,
)
from kernel.settings import ConfigError, LlmSettings, Settings, load_settings
from tests.llm_server import Reply, ScriptedLlm, completion, scripted_llm, tool_call

MESSAGES = [{"role": "user", "content": "你好"}]


@pytest.fixture
def server() -> Iterator[ScriptedLlm]:
    with scripted_llm() as srv:
        yield srv


def _client(server: ScriptedLlm, records: list[CallRecord], **kw: object) -> ChatClient:
    settings = LlmSettings(base_url=server.url, model="qwen-test", timeout_seconds=1.0, **kw)  # type: ignore[arg-type]
    return ChatClient(settings, api_key="k-123", record=records.append)


def test_a_completion_is_returned_and_recorded(server: ScriptedLlm) -> None:
    server.script(completion("一切正常。"))
    records: list[CallRecord] = []
    with _client(server, records) as client:
        result = client.chat(MESSAGES)
    assert result.text == "一切正常。" and result.prompt_tokens == 123 and result.completion_tokens == 45
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k-123"
    assert sent["body"]["temperature"] == 0 and sent["body"]["model"] == "qwen-test"
    (rec,) = records
    assert rec.outcome == "ok" and rec.model == "qwen-test" and len(rec.prompt_hash) == 64
    assert "你好" not in repr(rec)  # the prompt itself is never recorded


@pytest.mark.parametrize(
    ("reply", "error", "outcome"),
    [
        (completion("", refusal="我不能回答"), LlmRefusedError, "refused"),
        (completion(""), LlmRefusedError, "refused"),
        (
            Reply(body={"choices": [{"message": {"content": "x"}, "finish_reason": "content_filter"}]}),
            LlmRefusedError,
            "refused",
        ),
        (Reply(body={"error": "nope"}), LlmResponseError, "bad_response"),
        (Reply(raw=b"<html>"), LlmResponseError, "bad_response"),
        (completion("", tool_calls=[tool_call("count", "{not json")]), LlmResponseError, "bad_response"),
        (completion("", tool_calls=[{"type": "function", "function": {}}]), LlmResponseError, "bad_response"),
        (Reply(status=429, body={}, headers={"retry-after": "0"}), LlmRateLimitedError, "rate_limited"),
        (Reply(status=503, body={}, headers={"retry-after": "0"}), LlmUnavailableError, "unavailable"),
        (Reply(delay=1.6, body={}), LlmTimeoutError, "timeout"),
    ],
)
def test_each_failure_is_typed_and_recorded(
    server: ScriptedLlm, reply: Reply, error: type[Exception], outcome: str
) -> None:
    server.script(reply)
    records: list[CallRecord] = []
    with _client(server, records) as client, pytest.raises(error):
        client.chat(MESSAGES)
    assert [r.outcome for r in records] == [outcome]


def test_a_429_is_retried_then_succeeds(server: ScriptedLlm) -> None:
    server.script(Reply(status=429, body={}, headers={"retry-after": "0"}), completion("好"))
    records: list[CallRecord] = []
    with _client(server, records, max_retries=2) as client:
        assert client.chat(MESSAGES).text == "好"
    assert records[0].outcome == "ok" and records[0].attempts == 2


def test_connection_refused_is_unavailable() -> None:
    records: list[CallRecord] = []
    settings = LlmSettings(base_url="http://127.0.0.1:9/v1", model="m", timeout_seconds=1.0)
    with ChatClient(settings, record=records.append) as client, pytest.raises(LlmUnavailableError):
        client.chat(MESSAGES)
    assert records[0].outcome == "unavailable"


def test_llm_section_is_off_by_default_and_set_from_the_environment(tmp_path: object) -> None:
    assert Settings().llm is None
    env = {"SENSING_LLM__BASE_URL": "http://10.0.0.5:8000/v1", "SENSING_LLM__MODEL": "qwen2.5-72b"}
    settings = load_settings(environ=env)
    assert settings.llm is not None and settings.llm.model == "qwen2.5-72b" and settings.llm.temperature == 0
    with pytest.raises(ConfigError, match="llm.api_key"):
        load_settings(environ={**env, "SENSING_LLM__API_KEY": "sk-literal"})
