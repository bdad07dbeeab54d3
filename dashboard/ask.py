"""智能问答: a question in Chinese answered by the office's model through the fixed query tools only.

Two calls to the model: the first may only choose tools (``storage.ask_tools``), which Minsheng
validates and runs; the second phrases the answer from the results, given as numbered facts, and
the answer is verified like a briefing (``analytics.briefing_check``) before it is shown beside the
result tables. Every call is recorded in ``llm_calls``; the page writes the audit record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from analytics.briefing_check import Verification, verify_text
from kernel import labels
from kernel.llm import CallRecord, ChatClient, LlmError
from kernel.settings import LlmSettings, resolve_secret
from storage.ask_tools import ToolError, ToolResult, run_tool, tool_specs
from storage.briefings import record_llm_call

MAX_TOOL_CALLS = 4
MAX_QUESTION_CHARS = 300
CHOOSE_PROMPT = (
    "你是政务舆情数据助手。只能通过提供的查询工具获取数据，不得编写 SQL，不得凭空回答。"
    "根据用户的问题选择一个或几个工具并填写参数；地域填写省级名称（如 广东省），诉求分类填写名称（如 城乡建设）。"
)
ANSWER_PROMPT = (
    "你是政务舆情数据助手。只根据下面的查询结果事实回答用户问题，用中文，简洁。凡含数字、地域、诉求分类或渠道的句子，"
    "句末用方括号注明所依据的事实编号，如 [F2]。数字照抄事实中的写法和单位，不得编造。"
    "若结果不足以回答，直接说明无法从数据中得出。"
)


@dataclass
class Answer:
    """What the page shows: the verified answer, what was removed, the result tables, or the error."""

    question: str
    text: str = ""
    results: list[ToolResult] = field(default_factory=list)
    verification: Verification | None = None
    error: str | None = None

    @property
    def tools(self) -> list[dict[str, Any]]:
        return [{"name": r.name, "arguments": r.arguments} for r in self.results]


def answer_question(
    engine: Engine,
    llm: LlmSettings,
    question: str,
    now: datetime,
    tz: str,
    transport: httpx.BaseTransport | None = None,
) -> Answer:
    """Answer ``question`` through the tools; never raises for the model's faults (see ``error``)."""
    question = " ".join(question.split())[:MAX_QUESTION_CHARS]
    out = Answer(question)

    def record(rec: CallRecord) -> None:
        record_llm_call(engine, rec)

    with ChatClient(llm, resolve_secret(llm.api_key), record=record, transport=transport) as client:
        try:
            chosen = client.chat(
                [{"role": "system", "content": CHOOSE_PROMPT}, {"role": "user", "content": question}],
                tools=tool_specs(),
                purpose="question.tools",
            )
            if not chosen.tool_calls:
                out.error = "模型没有选择查询工具，无法从数据中回答。"
                return out
            for call in chosen.tool_calls[:MAX_TOOL_CALLS]:
                out.results.append(run_tool(engine, call.name, call.arguments, now, tz))
            facts = {
                f"F{i}": fact for i, fact in enumerate((f for r in out.results for f in r.facts), start=1)
            }
            listing = "\n".join(f"[{k}] {v}" for k, v in facts.items())
            answer = client.chat(
                [
                    {"role": "system", "content": ANSWER_PROMPT},
                    {"role": "user", "content": f"问题：{question}\n查询结果事实：\n{listing}"},
                ],
                purpose="question.answer",
            )
        except ToolError as exc:
            out.error = f"模型请求的查询不被允许：{exc}"
            return out
        except LlmError as exc:
            out.error = f"大模型调用失败（{exc.outcome}）：{exc}"
            return out
    entities = [*labels.CHANNELS.values(), *labels.CATEGORY_CODES]
    entities += [
        str(v) for r in out.results for col in ("地域", "诉求分类") if col in r.table for v in r.table[col]
    ]
    out.verification = verify_text(answer.text, facts, {}, entities, max_failed_share=llm.max_failed_share)
    out.text = out.verification.published_text() if not out.verification.fallback else ""
    if out.verification.fallback:
        out.error = "模型的回答未通过核验，仅显示查询结果。"
    return out
