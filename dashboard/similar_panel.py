"""相似留言 and 同一诉求 hints: documents near in meaning, from the encoder tier's stored embeddings.

:func:`similar_panel` lists the documents nearest in meaning to one document (检索's selected
document), each openable in full; :func:`duplicate_hint` is the line shown on a hotline / 问政
message that likely restates another case in other words. Document text is shown only in
dataframes and ``st.text``: never as Markdown or HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.context import PageContext
from dashboard.tables import local_time, tier_label
from kernel import labels
from storage.similar import CASE_CHANNELS, MEANING_DUPLICATE_THRESHOLD, WINDOW_DAYS

SIMILAR_K = 10


def duplicate_hint(hint: Any) -> str:
    """``可能与 #ID 为同一诉求（语义相似 0.97）`` for a ``storage.similar.MeaningDuplicate``."""
    return f"可能与 #{hint.other_id} 为同一诉求（语义相似 {hint.similarity:.2f}）"


def case_hints(ctx: PageContext, docs: pd.DataFrame) -> dict[int, Any]:
    """Meaning-duplicate hints of the hotline / 问政 messages among ``docs`` (columns id, channel)."""
    ids = tuple(
        sorted(int(i) for i, c in zip(docs["id"], docs["channel"], strict=True) if c in CASE_CHANNELS)
    )
    return data.meaning_duplicates(ctx.url, ids) if ids else {}


def hint_column(ids: Iterable[Any], hints: dict[int, Any]) -> list[str]:
    """The 可能为同一诉求 cell of each document: ``#ID（相似 0.97）`` or empty."""
    out = []
    for i in ids:
        hint = hints.get(int(i))
        out.append(f"#{hint.other_id}（相似 {hint.similarity:.2f}）" if hint else "")
    return out


def similar_table(found: list[Any], tz: str) -> pd.DataFrame:
    """The neighbours as a display frame (plain text cells)."""
    frame = pd.DataFrame(
        {
            "编号": [d.document_id for d in found],
            "语义相似度": [round(d.similarity, 3) for d in found],
            "渠道": [labels.label("channel", d.channel) for d in found],
            "发布时间": local_time(
                pd.Series([d.published_at for d in found], dtype="datetime64[ns, UTC]"), tz
            ),
            "标题": [d.title for d in found],
            "内容摘要（已脱敏）": [d.snippet for d in found],
        }
    )
    return frame


def show_document(ctx: PageContext, document_id: int) -> None:
    """A document's title, full text, 标注来源 and (hotline / 问政) its 同一诉求 hint, as plain text."""
    found = data.documents_by_ids(ctx.url, (int(document_id),))
    if found.empty:
        st.text(f"文档 #{document_id} 已不存在。")
        return
    doc = found.iloc[0]
    st.text(str(doc["title"] or ""))
    st.text(str(doc["content"]))  # plain text: never Markdown or HTML
    st.text(document_facts(ctx, doc))


def document_facts(ctx: PageContext, doc: pd.Series, hints: dict[int, Any] | None = None) -> str:
    """``#ID · 渠道 · 时间 · 标注来源：… · 可能与 #ID 为同一诉求（…）`` of one document row (``hints``:
    :func:`case_hints` of a frame holding it, else they are read for this document)."""
    when = local_time(pd.Series([doc["published_at"]]), ctx.tz).iloc[0]
    parts = [
        f"#{int(doc['id'])}",
        labels.label("channel", doc["channel"]),
        when,
        f"标注来源：{tier_label(doc['tier'])}",
    ]
    if hints is None:
        hints = case_hints(ctx, pd.DataFrame({"id": [doc["id"]], "channel": [doc["channel"]]}))
    hint = hints.get(int(doc["id"]))
    if hint is not None:
        parts.append(duplicate_hint(hint))
    return " · ".join(parts)


def similar_panel(ctx: PageContext, document_id: int, key: str) -> None:
    """相似留言: the documents nearest in meaning to ``document_id``, each openable in full."""
    st.subheader("相似留言")
    found = data.similar_documents(ctx.url, int(document_id), SIMILAR_K)
    if found is None:
        backlog = data.encoder_pending(ctx.url)
        waiting = f"（编码层待处理约 {backlog:,} 条文档）" if backlog else ""
        st.info(f"编码层尚未处理此文档，暂时无法按语义查找相似留言{waiting}。")
        return
    st.caption(
        f"按语义（编码模型的文本向量）查找发布时间前后 {WINDOW_DAYS} 天内最相近的 {SIMILAR_K} 条文档；"
        "此文档的完全重复副本不计，其他文档的副本只列首条。相似度普遍偏高：不相干的留言也多在 0.85–0.91 之间，"
        f"{MEANING_DUPLICATE_THRESHOLD:.2f} 及以上的热线、问政留言提示为可能的同一诉求。"
    )
    if not found:
        st.info(f"前后 {WINDOW_DAYS} 天内没有其他已编码的文档。")
        return
    st.dataframe(similar_table(found, ctx.tz), hide_index=True, width="stretch")
    titles = {d.document_id: d.title[:30] for d in found}
    picked = st.selectbox(
        "查看相似文档全文",
        list(titles),
        format_func=lambda i: f"#{i} {titles[i]}",
        key=f"{key}_doc",
        index=None,
        placeholder="选择相似文档编号",
    )
    if picked is not None:
        with st.container(border=True):
            show_document(ctx, int(picked))
