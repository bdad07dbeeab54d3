"""Analysts correct a document's sentiment, emotion or demand category (检索, 热点话题, 复核队列).

:func:`save_correction` re-checks that the logged-in user may still correct tags, stores the
correction under their name (audit-logged by
:func:`storage.corrections.add_correction`), refreshes the rollups at once and clears the data
cache, so every chart shows the corrected tag on the next run. If the refresh fails (another
refresh holds the rows), the correction is kept and the scheduled refresh picks it up.
"""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from dashboard import auth, data
from dashboard.context import PageContext
from dashboard.markdown import escape_md
from dashboard.tables import tier_label
from kernel import labels
from kernel.labels import TASK_CODES
from storage.corrections import CorrectionError, add_correction
from storage.rollups.refresh import refresh_rollups

log = logging.getLogger(__name__)
FLASH = "correction_flash"


def save_correction(document_id: int, field: str, value: str) -> None:
    """Store one correction, refresh the rollups and the cache; the outcome waits in the session.

    A button callback: it runs before the page, so the user's permission is read again here.
    """
    user = auth.authorize(data.engine(), "correct")
    if user is None:
        st.session_state[FLASH] = ("error", auth.DENIED)
        return
    shown = f"文档 #{document_id} 的{labels.FIELDS.get(field, field)}"
    try:
        add_correction(data.engine(), int(document_id), field, value, user.username)
    except CorrectionError as exc:
        st.session_state[FLASH] = ("error", f"未保存：{exc}")
        return
    try:
        refresh_rollups(data.engine())
    except Exception:  # noqa: BLE001 - the correction is stored; the scheduled refresh applies it
        log.warning("rollup refresh after a correction failed", exc_info=True)
        message = ("warning", f"{shown}已更正为“{labels.tag(field, value)}”，图表将在下次汇总刷新后更新。")
    else:
        message = ("ok", f"{shown}已更正为“{labels.tag(field, value)}”，所有图表已更新。")
    data.clear_caches()
    st.session_state[FLASH] = message


def show_flash() -> None:
    """The outcome of the last correction, once."""
    flash = st.session_state.pop(FLASH, None)
    if flash:
        kind, text = flash
        show = {"ok": st.success, "warning": st.warning}.get(kind, st.error)
        show(escape_md(text))  # may quote a stored label


def correction_form(ctx: PageContext, docs: pd.DataFrame, key: str, doc_id: int | None = None) -> None:
    """Pick one of ``docs`` (columns id, title and the current tags), a tag and its new value, save.

    With ``doc_id`` that document is corrected (no picker). Shown only to roles allowed to correct
    (analysts, admins); others see a note.
    """
    if not ctx.can("correct"):
        st.caption("更正标签需要分析员或管理员角色。")
        return
    show_flash()
    if docs.empty:
        return
    titles = {int(i): str(t or "")[:30] for i, t in zip(docs["id"], docs["title"], strict=True)}
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
    if doc_id is None:
        doc_id = c1.selectbox(
            "更正文档标签", list(titles), format_func=lambda i: f"#{i} {titles[i]}", key=f"{key}_doc"
        )
    else:
        c1.text(f"更正文档 #{doc_id} 的标签")
    field = c2.selectbox(
        "标签", list(labels.FIELDS), format_func=labels.FIELDS.__getitem__, key=f"{key}_field"
    )
    row = docs.loc[docs["id"] == doc_id].iloc[0]
    current = str(row.get(field) or "")
    options = list(TASK_CODES[field])
    value = c3.selectbox(
        "改为",
        options,
        index=options.index(current) if current in options else 0,
        format_func=lambda v: labels.tag(field, v),
        key=f"{key}_value_{doc_id}_{field}",  # a fresh default (the current tag) per document and tag
    )
    c4.button(
        "保存更正",
        key=f"{key}_save",
        on_click=save_correction,
        args=(int(doc_id), field, value),
        disabled=value == current,
    )
    source = f"（标注来源：{tier_label(row['tier'])}）" if "tier" in row.index else ""
    note = f"当前{labels.FIELDS[field]}：{labels.tag(field, current)}{source}。更正记入审计日志，并用于模型再训练。"
    st.caption(escape_md(note))  # the current category is stored text
