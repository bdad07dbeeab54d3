"""Emerging topics: new ones, and ones rising well above their own history (pure pandas).

For every key with items in the recent window ``[now - recent_hours, now)``:

- ``new``: the key's first item in the frame falls inside the window (and the frame does reach
  back before the window, otherwise nothing can be called new), with at least ``min_count`` items;
- ``rising``: an older key whose recent count is at least ``min_count``, at least ``min_ratio`` times
  its expected count and ``z_threshold`` Poisson standard deviations above it, where
  expected = (items in the ``history_days`` before the window) / history hours * recent_hours and
  z = (recent - expected) / sqrt(expected + 1).

Pass at least ``history_days`` of history before the window; a key first seen before the frame
starts is treated as old only if it has items in the frame before the window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

COLUMNS = ["key", "reason", "recent", "expected", "ratio", "z", "first_seen", "detail"]


@dataclass(frozen=True)
class EmergingParams:
    """Thresholds for ``find_emerging``."""

    recent_hours: int = 24
    history_days: int = 14
    min_count: float = 5.0
    min_ratio: float = 3.0
    z_threshold: float = 3.0


def find_emerging(
    frame: pd.DataFrame,
    now: pd.Timestamp | None = None,
    params: EmergingParams | None = None,
    key: str = "key",
) -> pd.DataFrame:
    """List new and rising keys.

    Args:
        frame: rows with ``bucket`` (UTC), the key column and ``n`` (other columns, e.g. channel,
            are summed over).
        now: end of the recent window (default: one hour after the last bucket).
        params: thresholds.
        key: name of the key column.

    Returns:
        DataFrame with columns key, reason ("new" | "rising"), recent, expected, ratio, z,
        first_seen, detail (a readable sentence), new keys first then by ratio.
    """
    params = params or EmergingParams()
    missing = [c for c in ("bucket", key, "n") if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}")
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    bucket = pd.to_datetime(frame["bucket"])
    bucket = bucket.dt.tz_localize("UTC") if bucket.dt.tz is None else bucket.dt.tz_convert("UTC")
    df = pd.DataFrame(
        {"bucket": bucket, "key": frame[key], "n": pd.to_numeric(frame["n"], errors="coerce").astype(float)}
    )
    df = df[df["n"] > 0]
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    now = pd.Timestamp(now) if now is not None else df["bucket"].max() + pd.Timedelta(hours=1)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    start = now - pd.Timedelta(hours=params.recent_hours)
    hist_start = start - pd.Timedelta(days=params.history_days)
    df = df[df["bucket"] < now]

    recent = df[df["bucket"] >= start].groupby("key")["n"].sum()
    recent = recent[recent >= params.min_count]
    if recent.empty:
        return pd.DataFrame(columns=COLUMNS)
    first_seen = df.groupby("key")["bucket"].min().reindex(recent.index)
    hist = df[(df["bucket"] >= hist_start) & (df["bucket"] < start)].groupby("key")["n"].sum()
    expected = hist.reindex(recent.index, fill_value=0.0) / (params.history_days * 24.0) * params.recent_hours
    ratio = (recent + 1.0) / (expected + 1.0)
    z = (recent - expected) / np.sqrt(expected + 1.0)
    has_history = bool(df["bucket"].min() < start)
    if not has_history:
        logger.info("frame starts inside the recent window: no key can be called new")
    is_new = (first_seen >= start) & has_history
    is_rising = ~is_new & (ratio >= params.min_ratio) & (z >= params.z_threshold)
    out = pd.DataFrame(
        {
            "key": recent.index,
            "reason": np.where(is_new, "new", "rising"),
            "recent": recent.to_numpy(),
            "expected": expected.to_numpy(),
            "ratio": ratio.to_numpy(),
            "z": z.to_numpy(),
            "first_seen": first_seen.to_numpy(),
        }
    )[(is_new | is_rising).to_numpy()]
    hours = params.recent_hours
    out["detail"] = [
        f"first seen {fs:%Y-%m-%d %H:%M} UTC, {r:g} items in the last {hours} h"
        if reason == "new"
        else f"{r:g} items in the last {hours} h vs {e:.1f} expected ({q:.1f}x, z={zz:.1f})"
        for reason, r, e, q, zz, fs in zip(
            out["reason"],
            out["recent"],
            out["expected"],
            out["ratio"],
            out["z"],
            out["first_seen"],
            strict=True,
        )
    ]
    out["_new"] = out["reason"] == "new"
    out = out.sort_values(["_new", "ratio"], ascending=[False, False], kind="stable").drop(columns="_new")
    return out.reset_index(drop=True)[COLUMNS]
