"""Pure chart helpers: a DataFrame in, a Plotly figure out (no Streamlit, no I/O).

Figures use a CJK-capable font stack so Chinese renders on Linux (WenQuanYi / Noto CJK),
Windows (Microsoft YaHei) and macOS (PingFang). The province map draws the shipped GeoJSON as
SVG polygons on plain axes, so it needs no tiles and no map files from the internet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, Microsoft YaHei, PingFang SC, Source Sans Pro, sans-serif"
PALETTE = px.colors.qualitative.Safe
HEIGHT = 360


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Escape ``<`` and ``>`` in text columns: plotly reads ``<b>``, ``<a href>`` ... in labels as markup."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(
                lambda v: v.replace("<", "&lt;").replace(">", "&gt;") if isinstance(v, str) else v
            )
    return out


def style(fig: go.Figure, title: str | None = None, height: int = HEIGHT) -> go.Figure:
    """The common look: CJK font, compact margins, legend under the plot."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 16}} if title else None,
        font={"family": FONT, "size": 13},
        height=height,
        margin={"l": 10, "r": 10, "t": 48 if title else 16, "b": 10},
        # below the plot: a legend on top collides with the title once it is wider than half the chart
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0.0, "title": None},
        hoverlabel={"font": {"family": FONT}},
    )
    return fig


def time_axis(fig: go.Figure, values: pd.Series) -> go.Figure:
    """Chinese date ticks: days as 11月20日, hours as 20日 14时 (plotly's default is English)."""
    times = pd.to_datetime(pd.Series(values))
    daily = bool(len(times)) and bool((times.dt.hour == 0).all())
    fmt = "%m月%d日" if daily else "%d日 %H时"
    fig.update_xaxes(tickformat=fmt, hoverformat="%Y-%m-%d" if daily else "%Y-%m-%d %H:00")
    return fig


def empty(title: str, message: str = "所选范围内暂无数据") -> go.Figure:
    """A figure that says there is nothing to show (instead of empty axes)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 16, "color": "#888"}, x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, title)


def line(
    frame: pd.DataFrame,
    x: str,
    y: str,
    color: str | None,
    title: str,
    labels: Mapping[str, str],
    *,
    area: bool = False,
) -> go.Figure:
    """A trend: one line (or stacked area) per ``color`` value."""
    if frame.empty:
        return empty(title)
    frame = plain(frame)
    draw = px.area if area else px.line
    fig = draw(frame, x=x, y=y, color=color, labels=dict(labels), color_discrete_sequence=PALETTE)
    if not area:
        fig.update_traces(mode="lines+markers", marker={"size": 5})
    fig.update_xaxes(title=None)
    if pd.api.types.is_datetime64_any_dtype(frame[x]):
        time_axis(fig, frame[x])
    return style(fig, title)


def sentiment_area(frame: pd.DataFrame, x: str, title: str, colors: Mapping[str, str]) -> go.Figure:
    """Stacked areas of documents per sentiment label (column ``情感``, values ``n``)."""
    if frame.empty:
        return empty(title)
    fig = px.area(
        frame, x=x, y="n", color="情感", color_discrete_map=dict(colors), labels={"n": "文档数", x: ""}
    )
    return style(time_axis(fig, frame[x]), title)


def bars(
    frame: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    labels: Mapping[str, str],
    *,
    color: str | None = None,
    horizontal: bool = False,
    percent: bool = False,
    colors: Mapping[str, str] | None = None,
) -> go.Figure:
    """Bars (grouped by ``color`` when given); ``percent`` formats the value axis as a percentage."""
    if frame.empty:
        return empty(title)
    frame = plain(frame)
    kwargs: dict[str, Any] = {"labels": dict(labels), "color": color, "text_auto": ".1%" if percent else True}
    kwargs["color_discrete_map" if colors else "color_discrete_sequence"] = (
        dict(colors) if colors else PALETTE
    )
    if horizontal:
        fig = px.bar(frame, x=y, y=x, orientation="h", **kwargs)
        fig.update_yaxes(autorange="reversed", title=None)
        if percent:
            fig.update_xaxes(tickformat=".0%")
    else:
        fig = px.bar(frame, x=x, y=y, **kwargs)
        fig.update_xaxes(title=None)
        if percent:
            fig.update_yaxes(tickformat=".0%")
    return style(fig, title)


def donut(
    frame: pd.DataFrame, names: str, values: str, title: str, colors: Mapping[str, str] | None = None
) -> go.Figure:
    if frame.empty or frame[values].sum() == 0:
        return empty(title)
    frame = plain(frame)
    fig = px.pie(
        frame, names=names, values=values, hole=0.5, color=names, color_discrete_map=dict(colors or {})
    )
    fig.update_traces(textinfo="label+percent", sort=False)
    return style(fig, title)


def matrix(table: pd.DataFrame, title: str, value_label: str, *, percent: bool = False) -> go.Figure:
    """A heatmap of a pivot table (rows x columns), the values written in the cells."""
    if table.empty:
        return empty(title)
    table = table.copy()
    table.index = plain(pd.DataFrame({"v": [str(i) for i in table.index]}))["v"]
    table.columns = plain(pd.DataFrame({"v": [str(c) for c in table.columns]}))["v"]
    fig = px.imshow(
        table,
        text_auto=".0%" if percent else True,
        aspect="auto",
        color_continuous_scale="OrRd",
        labels={"color": value_label},
    )
    fig.update_xaxes(side="bottom", title=None)
    fig.update_yaxes(title=None)
    return style(fig, title, height=max(HEIGHT, 40 * len(table) + 120))


def contributions(frame: pd.DataFrame, name: str, parts: Mapping[str, str], title: str) -> go.Figure:
    """Stacked horizontal bars: each row's score split into its weighted components (``parts``: column -> label)."""
    if frame.empty:
        return empty(title)
    long = plain(frame).melt(id_vars=[name], value_vars=list(parts), var_name="分项", value_name="贡献")
    long["分项"] = long["分项"].map(dict(parts))
    fig = px.bar(long, x="贡献", y=name, color="分项", orientation="h", color_discrete_sequence=PALETTE)
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(title=None)
    return style(fig, title, height=max(260, 34 * len(frame) + 120))


def forecast(history: pd.DataFrame, predicted: pd.DataFrame | None, title: str) -> go.Figure:
    """Observed counts (``bucket``, ``n``) and, if given, a forecast (``bucket``, ``mean``, ``lower``, ``upper``)."""
    if history.empty:
        return empty(title)
    fig = go.Figure()
    fig.add_scatter(
        x=history["bucket"], y=history["n"], mode="lines+markers", name="实际", line={"color": PALETTE[0]}
    )
    if predicted is not None and not predicted.empty:
        band_x = list(predicted["bucket"]) + list(predicted["bucket"])[::-1]
        band_y = list(predicted["upper"]) + list(predicted["lower"])[::-1]
        fig.add_scatter(
            x=band_x,
            y=band_y,
            fill="toself",
            mode="lines",
            line={"width": 0},
            fillcolor="rgba(204,102,119,0.2)",
            name="预测区间",
        )
        fig.add_scatter(
            x=predicted["bucket"],
            y=predicted["mean"],
            mode="lines",
            name="预测",
            line={"color": "#cc6677", "dash": "dash"},
        )
    return style(time_axis(fig, history["bucket"]), title)


def event_window(
    frame: pd.DataFrame,
    at: Any,
    mark: str,
    title: str,
    levels: Sequence[tuple[Any, Any, float | None, str]] = (),
) -> go.Figure:
    """Volume bars and negative share (dots) around an event, the event marked by a dashed line.

    ``frame``: ``bucket`` (times), ``n`` (documents) and ``share`` (negative share, NaN when empty).
    ``levels``: ``(start, end, share, name)`` horizontal segments, e.g. the negative share over the
    windows compared before and after the event (a share per bin alone is too noisy to read).
    """
    if frame.empty or frame["n"].sum() == 0:
        return empty(title)
    fig = go.Figure()
    fig.add_bar(x=frame["bucket"], y=frame["n"], name="声量", marker_color=PALETTE[0], yaxis="y")
    fig.add_scatter(
        x=frame["bucket"], y=frame["share"], name="负面占比（每段）", mode="markers", yaxis="y2",
        marker={"size": 6, "color": "rgba(214,39,40,0.45)"},
    )  # fmt: skip
    for i, (x0, x1, share, name) in enumerate(levels):
        if share is None:
            continue
        fig.add_scatter(
            x=[x0, x1], y=[share, share], name=name, mode="lines", yaxis="y2",
            line={"color": "#d62728", "width": 3, "dash": "solid" if i else "dot"},
        )  # fmt: skip
    fig.update_layout(
        yaxis={"title": {"text": "文档数"}, "rangemode": "tozero"},
        yaxis2={"title": {"text": "负面占比"}, "overlaying": "y", "side": "right", "range": [0, 1.05],
                "tickvals": [0, 0.25, 0.5, 0.75, 1], "tickformat": ".0%", "showgrid": False},
        bargap=0.1,
    )  # fmt: skip
    fig.add_shape(
        type="line", x0=at, x1=at, xref="x", yref="paper", y0=0, y1=1, line={"color": "#444", "dash": "dash"}
    )
    label = mark.replace("<", "&lt;").replace(">", "&gt;")
    fig.add_annotation(x=at, y=1, xref="x", yref="paper", text=label, showarrow=False, yanchor="bottom")
    return style(time_axis(fig, frame["bucket"]), title)


def _rings(geometry: Mapping[str, Any]) -> list[list[list[float]]]:
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [poly[0] for poly in polygons]


def province_map(
    frame: pd.DataFrame,
    geojson: Mapping[str, Any],
    value: str,
    title: str,
    value_label: str,
    *,
    percent: bool = False,
) -> go.Figure:
    """Choropleth of ``frame`` (columns ``province``, ``value``) over the GeoJSON's ``properties.name``."""
    values = {str(p): float(v) for p, v in zip(frame["province"], frame[value], strict=True)}
    top = max(values.values(), default=0.0) or 1.0
    fig = go.Figure()
    for feature in geojson["features"]:
        name = feature["properties"]["name"]
        xs: list[float | None] = []
        ys: list[float | None] = []
        for ring in _rings(feature["geometry"]):
            xs += [p[0] for p in ring] + [None]
            ys += [p[1] for p in ring] + [None]
        v = values.get(name)
        color = "#eeeeee" if v is None else sample_colorscale("OrRd", [0.08 + 0.92 * v / top])[0]
        shown = "无数据" if v is None else (f"{v:.1%}" if percent else f"{v:,.0f}")
        fig.add_scatter(
            x=xs, y=ys, fill="toself", fillcolor=color, mode="lines", line={"color": "#888", "width": 0.6},
            name=name, text=f"{name}：{shown}", hoveron="fills", hoverinfo="text", showlegend=False,
        )  # fmt: skip
    fig.add_scatter(  # an invisible trace that carries the colour bar
        x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
        marker={"colorscale": "OrRd", "cmin": 0, "cmax": top, "color": [0], "showscale": True,
                "colorbar": {"title": {"text": value_label}, "tickformat": ".0%" if percent else ",d"}},
    )  # fmt: skip
    fig.update_xaxes(visible=False, range=[73, 136])
    # 1 degree of latitude is longer on screen than 1 degree of longitude at China's mid-latitude.
    fig.update_yaxes(
        visible=False, range=[17, 54], scaleanchor="x", scaleratio=1 / math.cos(math.radians(36))
    )
    fig.update_layout(plot_bgcolor="white", dragmode="pan")
    return style(fig, title, height=520)


def top_n(frame: pd.DataFrame, column: str, n: int) -> pd.DataFrame:
    """The ``n`` rows with the largest ``column``."""
    return frame.sort_values(column, ascending=False).head(n)


def figure_values(fig: go.Figure, axis: str = "y") -> list[Sequence[Any]]:
    """The data values of every trace along ``axis`` (tests and exports read what is drawn)."""
    return [list(getattr(trace, axis) or []) for trace in fig.data]
