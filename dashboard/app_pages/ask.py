"""智能问答: an analyst's question answered by the office's model through fixed query tools, verified.

Analysts and admins only (the ``ask`` permission, re-checked against the database when the
question is sent); every question is written to the audit log with the tools the model chose.
The answer and the tables are shown as plain text and data, never as HTML or Markdown.
"""

from __future__ import annotations

import streamlit as st

from dashboard import auth, data
from dashboard.ask import answer_question
from dashboard.context import page_context, page_header
from dashboard.markdown import escape_md
from storage.store import Store

RESULT = "ask_result"

ctx = page_context()
page_header("智能问答", ctx)


def ask(question: str) -> None:
    user = auth.authorize(data.engine(), "ask")
    if user is None:
        st.session_state[RESULT] = None
        st.session_state["ask_denied"] = True
        return
    llm = ctx.settings.llm
    assert llm is not None
    answer = answer_question(data.engine(), llm, question, ctx.now, ctx.tz)
    detail = {
        "question": answer.question,
        "tools": answer.tools,
        "removed": len(answer.verification.removed) if answer.verification else 0,
        "error": answer.error,
    }
    Store(data.engine()).audit(user.username, "ask.question", None, detail)
    st.session_state[RESULT] = answer


if ctx.settings.llm is None:
    st.info("尚未配置本单位的大模型（配置文件 llm 一节），智能问答不可用；不会连接任何服务。")
    st.stop()
st.caption(
    escape_md(
        f"由大模型 {ctx.settings.llm.model} 选择查询工具并组织回答；数据来自系统统计，回答中的数字已逐一核对。"
    )
)
question = st.text_input(
    "问题", key="ask_q", max_chars=300, placeholder="例如：上周城乡建设类诉求哪个地区最多？负面占比多少？"
)
st.button("提问", key="ask_go", type="primary", on_click=ask, args=(question,), disabled=not question.strip())
if st.session_state.pop("ask_denied", False):
    st.error(auth.DENIED)
answer = st.session_state.get(RESULT)
if answer is not None:
    st.subheader("回答（大模型撰写，已核验）")
    if answer.error:
        st.warning(escape_md(answer.error))
    if answer.text:
        st.text(answer.text)  # model output is untrusted: plain text only
    for result in answer.results:
        st.caption(escape_md(result.title))
        st.dataframe(result.table, hide_index=True, width="stretch")
