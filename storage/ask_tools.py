"""The fixed set of query tools a large model may call to answer an analyst's question (智能问答).

The model never writes SQL: it chooses one of :data:`TOOLS` and fills typed parameters (period,
channel, category, region, sentiment, keyword), which :func:`run_tool` validates with pydantic
(unknown tools, unknown keys and values outside the allowed sets are refused with a clear
:class:`ToolError`) and runs through the dashboard's own read query (:func:`storage.queries.aggregate`).
Each result comes back as a table and as numbered fact sentences the answer must cite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine

from kernel import labels
from storage.filters import QueryFilters
from storage.queries import aggregate

Period = Literal["today", "yesterday", "last_7_days", "this_week", "last_week", "last_30_days"]
PERIOD_LABELS = {
    "today": "今天",
    "yesterday": "昨天",
    "last_7_days": "近7天",
    "this_week": "本周",
    "last_week": "上周",
    "last_30_days": "近30天",
}
Channel = Literal["social", "news", "hotline", "gov"]
Sentiment = Literal["positive", "neutral", "negative"]
GroupBy = Literal["channel", "category", "province", "sentiment"]
GROUP_LABELS = {"channel": "渠道", "category": "诉求分类", "province": "地域", "sentiment": "情感"}
MAX_ROWS = 20


class ToolError(ValueError):
    """The model asked for a tool or parameters that are not allowed."""


class _Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Period = Field(..., description="时间范围")
    channel: Channel | None = Field(
        None, description="渠道：social 社交媒体, news 新闻, hotline 12345热线, gov 政务平台"
    )
    category: str | None = Field(None, max_length=32, description="诉求分类，如 城乡建设")
    region: str | None = Field(None, max_length=32, description="省级地域，如 广东省")
    sentiment: Sentiment | None = Field(None, description="情感")
    keyword: str | None = Field(None, max_length=40, description="关键词（全文检索）")


class CountArgs(_Filters):
    """文档数与负面占比（可按条件筛选）。"""


class BreakdownArgs(_Filters):
    """按维度分组的文档数、负面数与负面占比，按文档数从多到少。"""

    by: GroupBy = Field(
        ..., description="分组维度：channel 渠道, category 诉求分类, province 地域, sentiment 情感"
    )
    top: int = Field(10, ge=1, le=MAX_ROWS, description="最多返回的组数")


ARGS: dict[str, type[_Filters]] = {"count_documents": CountArgs, "breakdown": BreakdownArgs}


def tool_specs() -> list[dict[str, Any]]:
    """The tools in the OpenAI ``tools`` format (JSON Schema from the parameter models)."""
    return [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": model.__doc__ or name,
                "parameters": model.model_json_schema(),
            },
        }
        for name, model in ARGS.items()
    ]


@dataclass
class ToolResult:
    """One tool run: its validated arguments, the table to show and the facts to cite."""

    name: str
    arguments: dict[str, Any]
    title: str
    table: pd.DataFrame
    facts: list[str] = field(default_factory=list)


def period_bounds(period: str, now: datetime, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of a named period in the app time zone (whole local days; today up to ``now``)."""
    local = now.astimezone(ZoneInfo(tz))
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    monday = today - timedelta(days=today.weekday())
    return {
        "today": (today, local),
        "yesterday": (today - timedelta(days=1), today),
        "last_7_days": (today - timedelta(days=7), today),
        "this_week": (monday, local),
        "last_week": (monday - timedelta(days=7), monday),
        "last_30_days": (today - timedelta(days=30), today),
    }[period]


def _filters(args: _Filters, now: datetime, tz: str) -> QueryFilters:
    start, end = period_bounds(args.period, now, tz)
    return QueryFilters(
        start=start,
        end=end,
        channels=(args.channel,) if args.channel else (),
        categories=(args.category,) if args.category else (),
        provinces=(args.region,) if args.region else (),
        sentiments=(args.sentiment,) if args.sentiment else (),
        keyword=args.keyword or "",
    )


def _describe(args: _Filters, start: datetime, end: datetime) -> str:
    last = end - timedelta(microseconds=1)
    parts = [f"{PERIOD_LABELS[args.period]}（{start:%Y-%m-%d} 至 {last:%Y-%m-%d}）"]
    if args.channel:
        parts.append(labels.CHANNELS.get(args.channel, args.channel))
    parts += [v for v in (args.category, args.region) if v]
    if args.sentiment:
        parts.append(labels.SENTIMENTS[args.sentiment])
    if args.keyword:
        parts.append(f"含「{args.keyword}」")
    return "，".join(parts)


def _share(negative: int, total: int) -> str:
    return f"{negative / total * 100:.2f}%" if total else "无"


def _group_label(by: str, value: Any) -> str:
    if value is None or value == "":
        return "未识别" if by == "province" else "未分类" if by == "category" else "未知"
    if by in ("channel", "sentiment"):
        return labels.label(by, str(value))
    return str(value)


def run_tool(engine: Engine, name: str, arguments: Mapping[str, Any], now: datetime, tz: str) -> ToolResult:
    """Validate and run one tool call.

    Raises:
        ToolError: unknown tool or invalid arguments (the message names the field).
    """
    model = ARGS.get(name)
    if model is None:
        raise ToolError(f"unknown tool {name!r}; expected one of {sorted(ARGS)}")
    try:
        args = model.model_validate(dict(arguments))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "arguments"
        raise ToolError(f"{name}: {where}: {first['msg']}") from None
    f = _filters(args, now, tz)
    scope = _describe(args, f.start, f.end)
    if isinstance(args, BreakdownArgs):
        frame = aggregate(engine, f, [args.by, "sentiment"])
        rows = []
        for value, group in frame.groupby(args.by, dropna=False, sort=False):
            total, negative = (
                int(group["n"].sum()),
                int(group.loc[group["sentiment"] == "negative", "n"].sum()),
            )
            rows.append(
                {GROUP_LABELS[args.by]: _group_label(args.by, value), "文档数": total, "负面数": negative}
            )
        table = pd.DataFrame(rows, columns=[GROUP_LABELS[args.by], "文档数", "负面数"])
        table = table.sort_values(["文档数", GROUP_LABELS[args.by]], ascending=[False, True]).head(args.top)
        table["负面占比"] = [_share(n, t) for n, t in zip(table["负面数"], table["文档数"], strict=True)]
        table.insert(0, "排名", range(1, len(table) + 1))
        facts = [
            f"{scope}·按{GROUP_LABELS[args.by]}第{r['排名']}位：{GROUP_LABELS[args.by]} {r[GROUP_LABELS[args.by]]}；"
            f"文档数 {r['文档数']:,} 条；负面数 {r['负面数']:,} 条；负面占比 {r['负面占比']}。"
            for r in table.to_dict("records")
        ]
        return ToolResult(name, args.model_dump(), f"{scope}：按{GROUP_LABELS[args.by]}统计", table, facts)
    frame = aggregate(engine, f, ["sentiment"])
    total, negative = int(frame["n"].sum()), int(frame.loc[frame["sentiment"] == "negative", "n"].sum())
    table = pd.DataFrame(
        [{"范围": scope, "文档数": total, "负面数": negative, "负面占比": _share(negative, total)}]
    )
    fact = f"{scope}·合计：文档数 {total:,} 条；负面数 {negative:,} 条；负面占比 {_share(negative, total)}。"
    return ToolResult(name, args.model_dump(), f"{scope}：合计", table, [fact])
