"""Pure frame -> display-frame helpers: Chinese column names, local times, labels; and safe exports.

Document text reaches the screen only through these frames (``st.dataframe`` shows cells as
plain text) or ``st.text``. Exports never let text become a formula (:mod:`kernel.spreadsheet`,
shared with the weekly XLSX report): in CSV a cell that starts with ``=``, ``+``, ``-``, ``@``
(or a tab / carriage return) gets a leading apostrophe; in XLSX text is written as text.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd

from kernel import labels
from kernel.spreadsheet import append_row, neutralise_formula

EXPORT_MAX_ROWS = 10_000


def local_time(series: pd.Series, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> pd.Series:
    """UTC timestamps -> local time strings ('' when missing)."""
    ts = pd.to_datetime(series, utc=True)
    return ts.dt.tz_convert(tz).dt.strftime(fmt).fillna("")


def alert_table(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "编号": frame["id"].astype("int64"),
            "级别": frame["severity"].map(lambda v: labels.label("severity", v)),
            "状态": frame["status"].map(lambda v: labels.label("status", v)),
            "标题": frame["title"].astype(str),
            "规则": frame["rule"].astype(str),
            "对象": frame["key"].astype(str),
            "首次触发": local_time(frame["first_seen"], tz),
            "最近触发": local_time(frame["last_seen"], tz),
            "确认人": frame["acked_by"].fillna("").astype(str),
        }
    )


def replay_table(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    """Replayed alerts (``sensing alerts replay``): what would have fired, and when."""
    return pd.DataFrame(
        {
            "级别": frame["severity"].map(lambda v: labels.label("severity", v)),
            "标题": frame["title"].astype(str),
            "规则": frame["rule"].astype(str),
            "对象": frame["key"].astype(str),
            "会在此时触发": local_time(frame["first_seen"], tz),
            "持续到": local_time(frame["last_seen"], tz),
            "说明": frame["message"].astype(str),
        }
    )


def hot_topic_table(ranked: pd.DataFrame) -> pd.DataFrame:
    """Ranked topics: heat, volume, growth ratio, negative share, channels."""
    out = pd.DataFrame(
        {
            "排名": range(1, len(ranked) + 1),
            "话题": ranked["label"].astype(str),
            "热度": ranked["heat"].astype(float).round(1),
            "声量": ranked["n"].astype("int64"),
            "增长倍数": ranked["growth_ratio"].astype(float).round(2),
            "负面占比(%)": (ranked["neg_ratio"].astype(float) * 100).round(1),
            "渠道": ranked["channels"].map(
                lambda cs: "、".join(labels.label("channel", c) for c in str(cs).split(",") if c)
            ),
            "话题编号": ranked["topic_id"].astype("int64"),
        }
    )
    return out


DOCUMENT_COLUMNS = {
    "id": "编号",
    "published_at": "发布时间",
    "channel": "渠道",
    "source": "数据源",
    "title": "标题",
    "content": "内容（已脱敏）",
    "category": "诉求类别",
    "sentiment": "情感",
    "emotion": "情绪",
    "tier": "标注来源",  # which tier's models gave the three tags before it
    "province": "省份",
    "city": "城市",
    "district": "区县",
    "likes": "点赞",
    "reposts": "转发",
    "comments": "评论",
    "dup_count": "重复条数",
    "simulated": "模拟数据",
}


def briefing_caption(briefing: Any, tz: str) -> str:
    """``由 qwen 撰写 · 2026-W47 · 已核对 12 个数字 · 已核验 · 生成于 …``: who wrote it and what was checked."""
    created = pd.Timestamp(briefing.created_at).tz_convert(tz).strftime("%Y-%m-%d %H:%M")
    removed = len(briefing.verification.get("removed", []))
    return (
        f"由大模型 {briefing.model} 撰写 · {briefing.period} · 已与系统计算的事实核对 {briefing.checked_figures} 个数字"
        f"{f'，{removed} 句未通过核验已删除' if removed else ''} · "
        f"{labels.BRIEFING_STATUS.get(briefing.status, briefing.status)} · 生成于 {created}"
    )


def document_table(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    out = frame[[c for c in DOCUMENT_COLUMNS if c in frame.columns]].copy()
    out["published_at"] = local_time(out["published_at"], tz)
    out["channel"] = out["channel"].map(lambda v: labels.label("channel", v))
    out["sentiment"] = out["sentiment"].map(lambda v: labels.label("sentiment", v))
    out["emotion"] = out["emotion"].map(lambda v: labels.label("emotion", v))
    for col in ("category", "province", "city", "district"):
        out[col] = out[col].map(labels.place)
    for col in ("title", "content", "source"):
        out[col] = out[col].fillna("").astype(str)
    out["simulated"] = out["simulated"].map(lambda v: "是" if v else "否")
    if "tier" in out.columns:
        out["tier"] = out["tier"].map(tier_label)
    return out.rename(columns=DOCUMENT_COLUMNS)


def tier_label(tier: object) -> str:
    """标注来源 of a document: the fast n-gram models, the encoder tier, or 未标注 (no tags yet)."""
    return labels.label("tier", tier) if isinstance(tier, str) and tier else "未标注"  # None / NaN: no tags


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_formula)
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a BOM (so Excel opens Chinese correctly), formulas neutralised."""
    return safe_frame(frame).to_csv(index=False).encode("utf-8-sig")


def to_xlsx_bytes(frame: pd.DataFrame, sheet: str = "检索结果") -> bytes:
    """An Excel workbook; text is always written as text (never as a formula or a link)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    append_row(ws, [str(c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        append_row(ws, [None if _missing(v) else v for v in row])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _missing(value: object) -> bool:
    """None, NaN, NaT and pd.NA: an empty cell."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


EXPORTERS: dict[str, tuple[Callable[[pd.DataFrame], bytes], str]] = {
    "csv": (to_csv_bytes, "text/csv"),
    "xlsx": (to_xlsx_bytes, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
