"""Report charts as PNG images, drawn by matplotlib with a Chinese font (pure: tables in, bytes out).

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot global state), so charts can
be drawn from any thread. A missing CJK font raises :class:`reports.fonts.CjkFontError` instead of
drawing empty boxes in place of Chinese.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from reports.fonts import find_cjk_font
from reports.model import ReportTable, WeeklyReport

log = logging.getLogger(__name__)
PALETTE = ["#1f5fa8", "#d9822b", "#3c9b5a", "#b8483c", "#7b5ea7", "#8c6d46", "#c45c99", "#6b7b8c"]
SENTIMENT_COLOURS = {"positive": "#3c9b5a", "neutral": "#9aa5b1", "negative": "#c0392b"}
SIZE = (7.0, 3.4)  # inches: fits an A4 page at 16 cm wide
DPI = 150


def _figure(title: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _empty(ax: Axes, message: str = "本周无数据") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#666666", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def chart_daily(table: ReportTable) -> Figure:
    """Stacked bars: documents per day and channel."""
    frame = table.frame()
    fig, ax = _figure(table.title)
    channels = [c for c in table.columns[1:-1]]
    if frame.empty or frame["total"].sum() == 0:
        _empty(ax)
        return fig
    x = np.arange(len(frame))
    bottom = np.zeros(len(frame))
    for i, col in enumerate(channels):
        values = frame[col.key].to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, label=col.label, color=PALETTE[i % len(PALETTE)], width=0.65)
        bottom += values
    ax.set_xticks(x, [d[5:] for d in frame["day"]])
    ax.set_ylabel("文档数")
    ax.legend(fontsize=8, frameon=False, ncols=min(len(channels), 4))
    return fig


def chart_sentiment(table: ReportTable) -> Figure:
    """100 % stacked horizontal bars: sentiment mix per group."""
    frame = table.frame()
    fig, ax = _figure(table.title)
    frame = frame[frame["tagged"] > 0]
    if frame.empty:
        _empty(ax)
        return fig
    y = np.arange(len(frame))[::-1]
    left = np.zeros(len(frame))
    for col in table.columns[2:5]:
        share = frame[col.key].to_numpy(dtype=float) / frame["tagged"].to_numpy(dtype=float)
        ax.barh(y, share, left=left, label=col.label, color=SENTIMENT_COLOURS[col.key], height=0.6)
        for yi, li, si in zip(y, left, share, strict=True):
            if si >= 0.08:
                ax.text(li + si / 2, yi, f"{si:.0%}", ha="center", va="center", fontsize=7, color="white")
        left += share
    ax.set_yticks(y, list(frame["group"]))
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(fontsize=8, frameon=False, ncols=3, loc="lower center", bbox_to_anchor=(0.5, -0.3))
    return fig


def chart_heat(table: ReportTable) -> Figure:
    """Stacked horizontal bars: each hot issue's heat split into its weighted components."""
    frame = table.frame().head(10)
    fig, ax = _figure(table.title)
    parts = [c for c in table.columns if c.key.startswith("c_")]
    if frame.empty or not parts:
        _empty(ax, "本周无热点议题")
        return fig
    y = np.arange(len(frame))[::-1]
    left = np.zeros(len(frame))
    for i, col in enumerate(parts):
        values = frame[col.key].fillna(0).to_numpy(dtype=float)
        ax.barh(y, values, left=left, label=col.label, color=PALETTE[i % len(PALETTE)], height=0.6)
        left += values
    ax.set_yticks(y, [str(v)[:14] for v in frame["issue"]])
    ax.set_xlabel("热度（0–100，各分项贡献之和）")
    ax.set_xlim(0, 100)
    ax.legend(fontsize=7, frameon=False, ncols=len(parts), loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return fig


def chart_trend(table: ReportTable) -> Figure:
    """Lines: daily documents of the top hot issues."""
    frame = table.frame().head(5)
    fig, ax = _figure(table.title)
    days = [c for c in table.columns if c.key.startswith("d") and c.key[1:].isdigit()]
    if frame.empty:
        _empty(ax, "本周无热点议题")
        return fig
    x = np.arange(len(days))
    for i, row in enumerate(frame.itertuples(index=False)):
        values = [getattr(row, c.key) for c in days]
        ax.plot(
            x, values, marker="o", markersize=3, color=PALETTE[i % len(PALETTE)], label=str(row.issue)[:14]
        )
    ax.set_xticks(x, [c.label for c in days])
    ax.set_ylabel("文档数")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def chart_categories(table: ReportTable) -> Figure:
    """Bars: documents per demand category this week and last week."""
    frame = table.frame()
    fig, ax = _figure(table.title)
    if frame.empty:
        _empty(ax)
        return fig
    x = np.arange(len(frame))
    ax.bar(x - 0.2, frame["last_week"].to_numpy(dtype=float), width=0.4, label="上周", color="#9aa5b1")
    ax.bar(x + 0.2, frame["this_week"].to_numpy(dtype=float), width=0.4, label="本周", color=PALETTE[0])
    ax.set_xticks(x, [str(v)[:7] for v in frame["category"]], rotation=20, fontsize=8)
    ax.set_ylabel("文档数")
    ax.legend(fontsize=8, frameon=False)
    return fig


def chart_reply_components(table: ReportTable) -> Figure:
    """Bars: mean of each reply-quality component (0–1), this week and last week."""
    frame = table.frame()
    fig, ax = _figure(table.title.split("（")[0] + "：各分项均值")
    rows = frame[frame["metric"].str.startswith("平均") & (frame["unit"] == "0–1")]
    if rows.empty or rows["this_week"].isna().all():
        _empty(ax, "本周无已评分答复")
        return fig
    x = np.arange(len(rows))
    labels = [str(m)[2:] for m in rows["metric"]]
    last = rows["last_week"].astype(float).fillna(0.0).to_numpy()
    this = rows["this_week"].astype(float).fillna(0.0).to_numpy()
    ax.bar(x - 0.2, last, width=0.4, label="上周", color="#9aa5b1")
    bars = ax.bar(x + 0.2, this, width=0.4, label="本周", color=PALETTE[0])
    ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("均值（0–1）")
    ax.legend(fontsize=8, frameon=False, ncols=2, loc="upper right")
    return fig


def chart_effects(table: ReportTable) -> Figure:
    """Paired bars: negative share before and after each event of the week."""
    frame = table.frame()
    fig, ax = _figure("处置事件前后负面占比")
    frame = frame[frame["neg_before"].notna() & frame["neg_after"].notna()]
    if frame.empty:
        _empty(ax, "本周无可比较的处置事件")
        return fig
    x = np.arange(len(frame))
    ax.bar(x - 0.2, frame["neg_before"].astype(float), width=0.4, label="事件前", color="#9aa5b1")
    ax.bar(
        x + 0.2,
        frame["neg_after"].astype(float),
        width=0.4,
        label="事件后",
        color=SENTIMENT_COLOURS["negative"],
    )
    ax.set_xticks(x, [f"事件 {int(i)}" for i in frame["id"]])
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel("负面占比")
    ax.legend(fontsize=8, frameon=False, ncols=2)
    return fig


#: chart key -> (table key, drawing function)
CHARTS: dict[str, tuple[str, Callable[[ReportTable], Figure]]] = {
    "daily": ("daily", chart_daily),
    "sentiment_channel": ("sentiment_channel", chart_sentiment),
    "sentiment_category": ("sentiment_category", chart_sentiment),
    "heat": ("heat_components", chart_heat),
    "trend": ("hot_trend", chart_trend),
    "categories": ("categories", chart_categories),
    "reply_components": ("reply_summary", chart_reply_components),
    "effects": ("effects", chart_effects),
}


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp metadata, so the same data gives the same file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def render_charts(report: WeeklyReport) -> dict[str, bytes]:
    """Every chart of the report as PNG bytes, by chart key.

    Raises:
        CjkFontError: when no Chinese font is installed.
    """
    font = find_cjk_font()
    out: dict[str, bytes] = {}
    with matplotlib.rc_context({"font.family": [font.family], "axes.unicode_minus": False, "font.size": 9}):
        for key, (table_key, draw) in CHARTS.items():
            table = report.tables.get(table_key)
            if table is not None:
                out[key] = figure_png(draw(table))
    log.debug("charts drawn", extra={"charts": len(out), "font": font.family})
    return out


__all__ = ["CHARTS", "render_charts"]
