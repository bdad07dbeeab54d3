"""Reading what an AppTest shows: metrics, tables and the data inside Plotly charts."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest


def metrics(at: AppTest) -> dict[str, str]:
    """Metric label -> shown value."""
    return {m.label: m.value for m in at.metric}


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first dataframe on the page that has ``column``."""
    for df in at.dataframe:
        frame = df.value
        if column in frame.columns:
            return frame
    raise AssertionError(
        f"no table with column {column!r}; tables: {[list(d.value.columns) for d in at.dataframe]}"
    )


def decode(values: Any) -> list[Any]:
    """Plotly JSON arrays, plain or base64 typed arrays (``{"dtype", "bdata"}``), as a flat list."""
    if isinstance(values, dict) and "bdata" in values:
        arr = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
        return arr.tolist()
    if values is None:
        return []
    flat: list[Any] = []
    for v in values:
        flat.extend(decode(v) if isinstance(v, (list, dict)) else [v])
    return flat


def charts(at: AppTest) -> list[dict[str, Any]]:
    """Every Plotly figure on the page, as its JSON dict."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def chart_titled(at: AppTest, title: str) -> dict[str, Any]:
    for fig in charts(at):
        text = ((fig.get("layout") or {}).get("title") or {}).get("text")
        if text == title:
            return fig
    raise AssertionError(f"no chart titled {title!r}")


def total_of(fig: dict[str, Any], axis: str = "y") -> float:
    """Sum of the values along ``axis`` over every trace (numbers only)."""
    return float(
        sum(v for trace in fig["data"] for v in decode(trace.get(axis)) if isinstance(v, (int, float)))
    )


def page_text(at: AppTest) -> str:
    """Everything shown as Markdown (titles, captions, markdown, info boxes): where HTML must never be."""
    parts = []
    for kind in (
        "markdown",
        "caption",
        "title",
        "header",
        "subheader",
        "info",
        "success",
        "warning",
        "error",
    ):
        parts += [str(e.value) for e in at.get(kind)]
    return "\n".join(parts)
