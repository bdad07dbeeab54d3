"""Emerging topics: new keys and keys rising above their own history."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.emerging import COLUMNS, EmergingParams, find_emerging

NOW = pd.Timestamp("2025-06-01T00:00Z")


def frame() -> pd.DataFrame:
    rows = []
    for h in range(24 * 15):
        bucket = NOW - pd.Timedelta(hours=h + 1)
        rows.append((bucket, "steady", 2))  # 48 a day, every day
        rows.append((bucket, "rising", 6 if h < 24 else (1 if h % 12 == 0 else 0)))  # 2/day -> 144/day
        if h < 10:
            rows.append((bucket, "brand-new", 1))
        if h < 2:
            rows.append((bucket, "tiny-new", 1))
    return pd.DataFrame(rows, columns=["bucket", "key", "n"])


def test_new_and_rising_are_found_with_reasons() -> None:
    out = find_emerging(frame(), now=NOW)
    assert list(out.columns) == COLUMNS
    reasons = dict(zip(out["key"], out["reason"], strict=True))
    assert reasons == {"brand-new": "new", "rising": "rising"}
    assert list(out["key"])[0] == "brand-new"  # new keys first
    rising = out.set_index("key").loc["rising"]
    assert rising["recent"] == 144 and rising["expected"] == pytest.approx(2.0)
    assert rising["ratio"] > 40 and "expected" in rising["detail"]
    assert out.set_index("key").loc["brand-new", "first_seen"] == NOW - pd.Timedelta(hours=10)


def test_thresholds_apply() -> None:
    strict = find_emerging(frame(), now=NOW, params=EmergingParams(min_count=20))
    assert list(strict["key"]) == ["rising"]
    loose = find_emerging(frame(), now=NOW, params=EmergingParams(min_count=1))
    assert "tiny-new" in set(loose["key"]) and "steady" not in set(loose["key"])


def test_nothing_is_new_without_history() -> None:
    df = frame()
    recent_only = df[df["bucket"] >= NOW - pd.Timedelta(hours=24)]
    out = find_emerging(recent_only, now=NOW)
    assert "new" not in set(out["reason"])


def test_channels_are_summed_and_empty_input_is_fine() -> None:
    df = frame()
    split = pd.concat([df.assign(channel="social", n=df["n"] / 2), df.assign(channel="news", n=df["n"] / 2)])
    a = find_emerging(df, now=NOW)
    b = find_emerging(split, now=NOW)
    pd.testing.assert_frame_equal(a, b)
    assert find_emerging(df.iloc[0:0], now=NOW).empty
