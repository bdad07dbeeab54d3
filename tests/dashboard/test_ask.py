"""智能问答: the model chooses among the fixed tools only; answers are verified; the page is role-checked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from dashboard.ask import answer_question
from kernel.settings import LlmSettings
from storage import schema as s
from storage.ask_tools import run_tool
from tests.dashboard.conftest import OpenPage
from tests.llm_server import Reply, ScriptedLlm, completion, scripted_llm, tool_call
from tests.seed import SeedFacts, seed_database

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TZ = "Asia/Shanghai"
QUESTION = "上周城乡建设类诉求哪个地区最多？负面占比多少？"
ARGS = {"period": "last_week", "by": "province", "category": "城乡建设", "top": 3}


@pytest.fixture
def server() -> Iterator[ScriptedLlm]:
    with scripted_llm() as srv:
        yield srv


@pytest.fixture
def store(sqlite_engine: Engine) -> Engine:
    seed_database(sqlite_engine, NOW)
    return sqlite_engine


def _llm(server: ScriptedLlm) -> LlmSettings:
    return LlmSettings(base_url=server.url, model="qwen-test", timeout_seconds=1.0, max_failed_share=0.5)


def test_a_question_is_answered_through_the_tools_and_verified(store: Engine, server: ScriptedLlm) -> None:
    truth = run_tool(store, "breakdown", ARGS, NOW, TZ).table.iloc[0]
    right = f"{truth['地域']}最多，共 {truth['文档数']} 条，负面占比 {truth['负面占比']}[F1]。"
    wrong = f"{truth['地域']}负面数为 {int(truth['负面数']) + 3} 条[F1]。"
    server.script(completion("", tool_calls=[tool_call("breakdown", ARGS)]), completion(right + wrong))
    answer = answer_question(store, _llm(server), QUESTION, NOW, TZ)
    assert answer.error is None and answer.text.startswith(right)
    assert [r.reason for r in answer.verification.removed] == [
        f"数字「{int(truth['负面数']) + 3} 条」与所引事实不符"
    ]
    assert answer.tools == [
        {
            "name": "breakdown",
            "arguments": {**ARGS, "channel": None, "region": None, "sentiment": None, "keyword": None},
        }
    ]
    assert len(answer.results[0].table) == 3
    second = server.requests[1]["body"]["messages"][1]["content"]
    assert f"[F1] {answer.results[0].facts[0]}" in second  # the answer is written from the results only
    with store.connect() as conn:
        assert conn.execute(select(s.llm_calls.c.purpose)).scalars().all() == [
            "question.tools",
            "question.answer",
        ]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (completion("上周城乡建设类诉求最多的是广东省。"), "没有选择查询工具"),
        (
            completion("", tool_calls=[tool_call("run_sql", {"sql": "select * from users"})]),
            "unknown tool 'run_sql'",
        ),
        (
            completion("", tool_calls=[tool_call("breakdown", {"period": "last_week", "by": "password"})]),
            "breakdown: by",
        ),
        (completion("", tool_calls=[tool_call("breakdown", "{broken")]), "bad_response"),
        (Reply(status=429, body={}, headers={"retry-after": "0"}), "rate_limited"),
    ],
)
def test_anything_but_a_valid_tool_call_is_refused(
    store: Engine, server: ScriptedLlm, reply: Reply, error: str
) -> None:
    server.script(reply)
    answer = answer_question(store, _llm(server), QUESTION, NOW, TZ)
    assert answer.error is not None and error in answer.error and answer.text == ""
    assert all("tools" in r["body"] for r in server.requests)  # no answer was asked for


def test_the_page_is_for_analysts_and_admins_and_audited(
    open_page: OpenPage,
    seeded: SeedFacts,
    engine: Engine,
    server: ScriptedLlm,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = open_page("ask", role="analyst")
    assert any("尚未配置本单位的大模型" in i.value for i in at.info) and server.requests == []
    monkeypatch.setenv("SENSING_LLM__BASE_URL", server.url)
    monkeypatch.setenv("SENSING_LLM__MODEL", "qwen-test")
    args = {"period": "last_7_days", "by": "channel"}
    server.script(completion("", tool_calls=[tool_call("breakdown", args)]), completion("请查看表格。"))
    at = open_page("ask", role="analyst")
    at.text_input(key="ask_q").input("近7天各渠道声量？").run()
    at.button(key="ask_go").click().run()
    assert not at.exception
    assert "请查看表格。" in [t.value for t in at.text] and len(at.dataframe) == 1
    with engine.connect() as conn:
        row = conn.execute(select(s.audit_log).where(s.audit_log.c.action == "ask.question")).one()
    assert row.user == "analyst" and row.detail["tools"][0]["name"] == "breakdown"
    with pytest.raises(AssertionError, match="expected page ask"):
        open_page("ask", role="official")
