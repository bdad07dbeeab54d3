"""Heat index and agenda priority: contributions add up and rankings follow the components."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.heat import (
    COMPONENTS,
    AgendaWeights,
    HeatInputError,
    HeatParams,
    HeatWeights,
    explain_row,
    rank_agenda,
    rank_heat,
)

NOW = pd.Timestamp("2025-03-10T00:00Z")


def rollup(rows: list[tuple]) -> pd.DataFrame:
    cols = ["hours_ago", "key", "channel", "n", "neg", "likes", "reposts", "comments", "reads"]
    df = pd.DataFrame(rows, columns=cols)
    df.insert(0, "bucket", NOW - pd.to_timedelta(df.pop("hours_ago") + 1, unit="h"))
    return df


def sample() -> pd.DataFrame:
    rows: list[tuple] = []
    for h in range(24 * 8):
        rows.append((h, "steady", "social", 4, 0, 5, 1, 1, 100))  # same rate every hour for 8 days
        if h < 24:
            rows.append((h, "burst", "social", 2, 2, 50, 10, 10, 5000))  # new today, angry, 3 channels
            rows.append((h, "burst", "news", 1, 0, 0, 0, 0, 0))
            if h % 6 == 0:
                rows.append((h, "burst", "hotline", 1, 1, 0, 0, 0, 0))
    return rollup(rows)


def test_contributions_sum_to_heat_and_stay_in_range() -> None:
    ranked = rank_heat(sample(), now=NOW)
    contrib = ranked[[f"c_{c}" for c in COMPONENTS]].sum(axis=1)
    np.testing.assert_allclose(contrib, ranked["heat"])
    assert ranked["heat"].between(0, 100).all()
    for c in COMPONENTS:
        assert ranked[c].between(0, 1).all()


def test_growth_spread_negativity_lift_a_new_topic_over_a_steady_one() -> None:
    ranked = rank_heat(sample(), now=NOW).set_index("key")
    burst, steady = ranked.loc["burst"], ranked.loc["steady"]
    assert burst["heat"] > steady["heat"]
    assert steady["growth"] == pytest.approx(0.0, abs=0.02)  # steady rate: no growth
    assert burst["growth"] > 0.9 and burst["n_channels"] == 3 and burst["spread"] == pytest.approx(0.75)
    assert burst["negativity"] > steady["negativity"]
    assert steady["n"] == 96 and steady["expected"] == pytest.approx(96)
    assert steady["persistence"] == 1.0 and burst["active_buckets"] == 24


def test_weights_change_the_ranking() -> None:
    volume_only = HeatWeights(volume=1, growth=0, spread=0, engagement=0, negativity=0, persistence=0)
    ranked = rank_heat(sample(), volume_only, now=NOW)
    assert list(ranked["key"]) == ["steady", "burst"]  # 96 items beat 76
    assert ranked.iloc[0]["heat"] == pytest.approx(100.0)
    growth_only = HeatWeights(volume=0, growth=1, spread=0, engagement=0, negativity=0, persistence=0)
    assert list(rank_heat(sample(), growth_only, now=NOW)["key"]) == ["burst", "steady"]
    with pytest.raises(HeatInputError):
        rank_heat(sample(), HeatWeights(0, 0, 0, 0, 0, 0), now=NOW)


def test_window_excludes_old_items_and_empty_window_gives_empty_frame() -> None:
    df = sample()
    late = rank_heat(df, now=NOW + pd.Timedelta(days=30))
    assert late.empty and "heat" in late.columns
    short = rank_heat(df, now=NOW, params=HeatParams(window_hours=1))
    assert short.set_index("key").loc["steady", "n"] == 4


def test_missing_columns_are_named() -> None:
    with pytest.raises(HeatInputError, match="channel"):
        rank_heat(sample().drop(columns="channel"), now=NOW)


def test_engagement_columns_are_optional() -> None:
    ranked = rank_heat(sample().drop(columns=["likes", "reads"]), now=NOW)
    assert len(ranked) == 2 and ranked["engagement_raw"].ge(0).all()


def test_agenda_priority_groups_and_regions() -> None:
    df = sample()
    df["category"] = df["key"].map({"steady": "交通运输", "burst": "城乡建设"})
    df["region"] = "A1区"
    extra = df[df["key"] == "burst"].assign(region="A2区", neg=0)
    df = pd.concat([df, extra], ignore_index=True)
    agenda = rank_agenda(df, now=NOW)
    parts = [c for c in agenda.columns if c.startswith("c_")]
    assert len(parts) == 6
    np.testing.assert_allclose(agenda[parts].sum(axis=1), agenda["priority"])
    np.testing.assert_allclose(agenda[["urgency", "scope", "impact"]].sum(axis=1), agenda["priority"])
    cells = agenda.set_index(["category", "region"])
    assert cells.loc[("城乡建设", "A1区"), "regions"] == 1.0  # active in both regions seen
    assert cells.loc[("交通运输", "A1区"), "regions"] == 0.5
    assert agenda.iloc[0]["category"] == "城乡建设"
    urgent_only = rank_agenda(df, AgendaWeights(urgency=1, scope=0, impact=0), now=NOW)
    assert urgent_only.iloc[0]["region"] == "A1区"  # the negative half of the burst


def test_explain_row_lists_largest_contribution_first() -> None:
    row = rank_heat(sample(), now=NOW).iloc[0]
    text = explain_row(row)
    assert text.startswith(f"heat {row['heat']:.1f} = ")
    biggest = max(COMPONENTS, key=lambda c: row[f"c_{c}"])
    assert text.split(" = ")[1].startswith(biggest)
