"""检索: full-text search over the (masked) documents with the global filters, paginated, exportable.

Each result says which tier's models tagged it (标注来源); hotline / 问政 messages that likely
restate another case get a 同一诉求 hint, and the selected document lists its 相似留言 (by meaning).

An export is audit-logged when its files are prepared (rows, formats, query), by a user re-checked
against the database at that moment: from then on the files are in the browser's reach, whether
or not a download button is clicked.
"""

from __future__ import annotations

import math

import streamlit as st

from dashboard import auth, data
from dashboard.context import page_context, page_header
from dashboard.correction_panel import correction_form, show_flash
from dashboard.similar_panel import case_hints, document_facts, hint_column, similar_panel
from dashboard.tables import EXPORT_MAX_ROWS, EXPORTERS, document_table
from storage.queries import search_documents
from storage.store import Store

EXPORT_KEY = "search_export"
FLASH = "search_flash"

ctx = page_context()
page_header("检索", ctx)
show_flash()  # the outcome of a correction, even when the corrected document no longer matches

c1, c2, c3 = st.columns([4, 1, 1])
text = c1.text_input(
    "搜索词", key="q_text", max_chars=100, placeholder="在标题和正文中查找（不区分大小写）"
).strip()
page_size = c2.selectbox("每页条数", [20, 50, 100], index=1, key="q_size")
collapse = c3.checkbox(
    "合并近似重复", value=True, key="q_collapse", help="只显示首条，重复条数见“重复条数”列"
)

total = data.search_count(ctx.url, ctx.filters, text, collapse)
pages = max(1, math.ceil(total / page_size))
st.metric("匹配文档（条）", f"{total:,}")
page = int(
    st.number_input(f"页码（共 {pages} 页）", min_value=1, max_value=pages, value=1, step=1, key="q_page")
)
results = data.search(ctx.url, ctx.filters, text, page, page_size, collapse)
if results.empty:
    st.info("没有匹配的文档。")
else:
    hints = case_hints(ctx, results)
    table = document_table(results, ctx.tz)
    if hints:
        table.insert(3, "可能为同一诉求", hint_column(results["id"], hints))
    st.dataframe(table, hide_index=True, width="stretch")
    chosen = st.selectbox(
        "查看全文",
        list(results["id"]),
        format_func=lambda i: f"#{i}",
        key="q_doc",
        index=None,
        placeholder="选择文档编号",
    )
    if chosen is not None:
        doc = results.loc[results["id"] == chosen].iloc[0]
        st.text(str(doc["title"] or ""))
        st.text(str(doc["content"]))  # plain text: never Markdown or HTML
        st.text(document_facts(ctx, doc, hints))
        correction_form(ctx, results, "q_fix", int(chosen))
        similar_panel(ctx, int(chosen), "q_similar")
    elif ctx.can("correct"):
        st.caption("选择文档后可查看全文并更正其情感、情绪或诉求类别。")

st.subheader("导出")
if not ctx.can("export"):
    st.session_state.pop(EXPORT_KEY, None)  # prepared before the role changed: not offered any more
    st.info("导出需要分析员或管理员角色。")
    st.stop()


def prepare() -> None:
    """Build the export files for the current query (up to EXPORT_MAX_ROWS rows) and audit-log them."""
    user = auth.authorize(data.engine(), "export")
    if user is None:
        st.session_state.pop(EXPORT_KEY, None)
        st.session_state[FLASH] = auth.DENIED
        return
    frame = search_documents(
        data.engine(), ctx.filters, text, page_size=EXPORT_MAX_ROWS, collapse_duplicates=collapse
    )
    table = document_table(frame, ctx.tz)
    query = {"text": text, "collapse": collapse, **ctx.filters.describe()}
    files = {fmt: fn(table) for fmt, (fn, _) in EXPORTERS.items()}
    Store(data.engine()).audit(
        user.username,
        "export.search",
        "documents",
        {"rows": len(table), "formats": list(files), "query": query},
    )
    st.session_state[EXPORT_KEY] = {"signature": signature, "rows": len(table), "files": files}


signature = (text, collapse, ctx.filters)
if (st.session_state.get(EXPORT_KEY) or {}).get("signature") != signature:
    st.session_state.pop(EXPORT_KEY, None)  # prepared for another query
st.button(f"准备导出（最多 {EXPORT_MAX_ROWS:,} 条）", key="q_prepare", on_click=prepare, disabled=total == 0)
denied = st.session_state.pop(FLASH, None)
if denied:
    st.error(denied)
export = st.session_state.get(EXPORT_KEY)
if export:
    st.text(f"已准备 {export['rows']:,} 条，已记入审计日志。")
    d1, d2 = st.columns(2)
    for col, fmt, label in ((d1, "csv", "下载 CSV"), (d2, "xlsx", "下载 Excel")):
        col.download_button(
            label,
            export["files"][fmt],
            file_name=f"minsheng-search.{fmt}",
            mime=EXPORTERS[fmt][1],
            key=f"q_download_{fmt}",
            on_click="ignore",  # audit-logged when prepared
        )
