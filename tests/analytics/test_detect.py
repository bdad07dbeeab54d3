"""Spike detection: synthetic series with known bursts, plus a real 问政 slice."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.detect import (
    Spike,
    SpikeParams,
    SpikeParamsError,
    detect_share_spike,
    detect_spikes,
    evaluate_latest,
    score_buckets,
    spikes_from_scores,
    window_thresholds,
)

METHODS = ["mad", "ewma"]
DETECTORS = ["scan", "zscore"]


def hourly_counts(days: int = 35, seed: int = 0, base: float = 12.0, amp: float = 8.0) -> pd.Series:
    """Poisson counts with a daily cycle (quiet nights, busy noon)."""
    idx = pd.date_range("2025-03-01", periods=24 * days, freq="h", tz="UTC")
    lam = base + amp * np.sin(2 * np.pi * (idx.hour - 6) / 24)
    rng = np.random.default_rng(seed)
    return pd.Series(rng.poisson(lam).astype(float), index=idx)


@pytest.mark.parametrize("detector", DETECTORS)
@pytest.mark.parametrize("method", METHODS)
def test_detects_injected_burst_at_its_first_bucket(method: str, detector: str) -> None:
    s = hourly_counts()
    at = 24 * 30 + 10
    s.iloc[at : at + 3] += 3 * s.iloc[at - 24 : at - 21].to_numpy() + 20
    spikes = detect_spikes(s, SpikeParams(method=method, detector=detector))
    hits = [sp for sp in spikes if s.index[at] <= sp.at <= s.index[at + 2]]
    assert len(hits) == 1
    hit = hits[0]
    assert hit.at == s.index[at]
    assert hit.end == s.index[at + 2]
    assert hit.ratio > 2 and hit.z >= 3 and hit.value > hit.baseline
    # one burst, at most a handful of noise alarms over five weeks
    assert len(spikes) <= 4


@pytest.mark.parametrize("method", METHODS)
def test_daily_peak_is_not_a_spike_but_the_same_level_at_night_is(method: str) -> None:
    s = hourly_counts(base=12, amp=10)
    params = SpikeParams(method=method)
    noon = s.index[(s.index.hour == 12) & (s.index >= s.index[24 * 30])]
    scored = score_buckets(s, params)
    assert not scored.loc[noon, "fired"].any()
    night = 24 * 32 + 0  # midnight, usual level ~2
    s.iloc[night] = 22.0  # an ordinary noon value
    assert evaluate_latest(s.iloc[: night + 1], params) is not None


def test_season_none_mistakes_the_daily_cycle_for_spikes() -> None:
    s = hourly_counts(base=12, amp=10)
    # The baselines alone: one window, Poisson floor (a dispersion floor would absorb the cycle).
    plain = {"method": "mad", "z_threshold": 2.0, "n_scales": 1, "dispersion_floor": False}
    flat = detect_spikes(s, SpikeParams(season="none", lookback_days=2, **plain))
    seasonal = detect_spikes(s, SpikeParams(season="hour", **plain))
    assert len(flat) > len(seasonal)


@pytest.mark.parametrize("method", METHODS)
def test_min_count_keeps_quiet_series_silent(method: str) -> None:
    idx = pd.date_range("2025-01-01", periods=24 * 30, freq="h", tz="UTC")
    s = pd.Series(np.random.default_rng(1).poisson(0.05, len(idx)).astype(float), index=idx)
    s.iloc[-12:] = 0.0  # fewer than min_count items in every window the scan may test (up to 6 hours)
    s.iloc[-1] = 4.0
    assert evaluate_latest(s, SpikeParams(method=method)) is None
    spike = evaluate_latest(s, SpikeParams(method=method, min_count=3))
    assert isinstance(spike, Spike) and spike.value == 4.0


@pytest.mark.parametrize("method", METHODS)
def test_evaluate_latest_reports_ongoing_episode_start(method: str) -> None:
    s = hourly_counts(seed=3)
    start = len(s) - 3
    s.iloc[start:] = s.iloc[start:] * 4 + 30
    spike = evaluate_latest(s, SpikeParams(method=method))
    assert spike is not None
    assert spike.at == s.index[-1] and spike.start == s.index[start]
    assert evaluate_latest(s.iloc[:start], SpikeParams(method=method)) is None


def test_missing_buckets_are_skipped_and_do_not_split_an_episode() -> None:
    s = hourly_counts(seed=4)
    at = 24 * 31 + 9
    s.iloc[at : at + 4] += 60
    gappy = s.drop(s.index[at + 1]).drop(s.index[np.arange(24 * 5, len(s) - 48, 24)])
    spikes = detect_spikes(gappy, SpikeParams())
    burst = [sp for sp in spikes if sp.at == s.index[at]]
    assert len(burst) == 1 and burst[0].end == s.index[at + 3]


def test_naive_timestamps_are_utc_and_duplicates_summed() -> None:
    s = hourly_counts(seed=5)
    naive = pd.Series(s.to_numpy(), index=s.index.tz_localize(None))
    doubled = pd.concat([naive, naive * 0])  # duplicate stamps: sum is unchanged
    a = score_buckets(s)
    b = score_buckets(doubled)
    assert str(b.index.tz) == "UTC"
    np.testing.assert_allclose(a["z"].to_numpy(), b["z"].to_numpy(), equal_nan=True)


def test_daily_series_uses_weekday_baseline() -> None:
    idx = pd.date_range("2024-01-01", periods=7 * 16, freq="D", tz="UTC")
    rng = np.random.default_rng(6)
    lam = np.where(idx.day_of_week >= 5, 3.0, 20.0)
    s = pd.Series(rng.poisson(lam).astype(float), index=idx)
    params = SpikeParams(method="mad")
    weekday_like_saturday = s.copy()
    sat = np.flatnonzero(idx.day_of_week == 5)[-1]
    weekday_like_saturday.iloc[sat] = 20.0
    assert evaluate_latest(weekday_like_saturday.iloc[: sat + 1], params) is not None
    fri = sat - 1
    assert evaluate_latest(s.iloc[: fri + 1], params) is None


def test_window_sums_buckets() -> None:
    s = hourly_counts(seed=7)
    scored = score_buckets(s, SpikeParams(window=3, n_scales=1))
    assert scored["value"].iloc[-1] == pytest.approx(s.iloc[-3:].sum())
    assert (scored["window"] == 3).all()


def test_each_bucket_reports_the_sum_over_its_window() -> None:
    s = hourly_counts(seed=7)
    scored = score_buckets(s, SpikeParams(window=2, n_scales=3, sparse_scales=1))
    assert set(scored["window"].unique()) <= {2, 4, 6} and scored["window"].nunique() > 1
    sums = {w: s.rolling(w).sum() for w in (2, 4, 6)}
    expected = [sums[w].iloc[i] for i, w in enumerate(scored["window"])]
    np.testing.assert_allclose(scored["value"].to_numpy(), expected)


def test_one_window_with_explicit_z_is_the_single_window_detector() -> None:
    s = hourly_counts(seed=9)
    zscore = {"detector": "zscore", "z_threshold": 3.0, "n_scales": 1}
    one = score_buckets(s, SpikeParams(dispersion_floor=False, **zscore))
    with_floor = score_buckets(s, SpikeParams(**zscore))
    ok = one["baseline"].notna()
    expected = (s - one["baseline"]) / np.sqrt(one["baseline"].clip(lower=0) + 1)
    scale_was_floor = one["scale"] == np.sqrt(one["baseline"].clip(lower=0) + 1)
    np.testing.assert_allclose(one.loc[ok & scale_was_floor, "z"], expected[ok & scale_was_floor])
    assert ((one["z"] >= 3) & (one["value"] >= 5) & (one["ratio"] >= 1.5) == one["fired"]).all()
    # the dispersion floor only ever widens the scale
    assert (with_floor["scale"][ok] >= one["scale"][ok] - 1e-9).all()


@pytest.mark.parametrize("detector, burst", [("zscore", 5.0), ("scan", 6.0)])
def test_sustained_small_excess_needs_the_longer_window(detector: str, burst: float) -> None:
    """A sparse daily series: 2 days at ~3-4x a level of 1.5 are weak alone and plain together.

    The scan's likelihood-ratio z is closer to the exact Poisson tail than the Wald z, which
    overstates small counts (P(Poisson(3) >= 10) is z = 3.06, the Wald z says 3.4): it needs 6 + 6.
    """
    idx = pd.date_range("2024-01-01", periods=7 * 30, freq="D", tz="UTC")
    s = pd.Series(np.random.default_rng(12).poisson(1.5, len(idx)).astype(float), index=idx)
    s.iloc[-2:] = [burst, burst]
    single = evaluate_latest(s, SpikeParams(detector=detector, n_scales=1, sparse_scales=1, z_threshold=3.0))
    multi = evaluate_latest(s, SpikeParams(detector=detector, n_scales=2, z_threshold=3.0))
    assert single is None
    assert multi is not None and multi.window == 2 and multi.value == 2 * burst and multi.z > 3.3
    assert multi.start == idx[-2] and multi.at == idx[-1]


def test_episode_ends_with_the_burst_not_with_the_longest_window() -> None:
    s = hourly_counts(seed=12)
    at = 24 * 30 + 10
    s.iloc[at : at + 2] += 40
    spikes = detect_spikes(s, SpikeParams(n_scales=3, merge_gap=0))
    hit = [sp for sp in spikes if sp.at == s.index[at]]
    assert len(hit) == 1 and hit[0].end == s.index[at + 1]
    # two buckets later the burst is over: the 3-bucket window still holds it but does not fire
    assert evaluate_latest(s.iloc[: at + 3], SpikeParams(n_scales=3)) is None


@pytest.mark.parametrize("freq, per_week", [("h", 168), ("D", 7)])
def test_alarm_budget_sets_the_per_bucket_level(freq: str, per_week: int) -> None:
    step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    params = SpikeParams(alarms_per_week=0.5)
    assert params.alarm_probability(step) == pytest.approx(0.5 / per_week)
    assert SpikeParams(z_threshold=3.0).alarm_probability(step) == pytest.approx(0.00135, rel=1e-2)
    at_floor, estimated = window_thresholds(params, step, period=24 if freq == "h" else 7)
    assert 0 < at_floor < estimated  # the estimated scale is less certain: t quantile
    assert window_thresholds(SpikeParams(z_threshold=3.0, n_scales=1), step, 24) == (3.0, 3.0)
    with pytest.raises(SpikeParamsError):
        SpikeParams(alarms_per_week=4.0).alarm_probability(pd.Timedelta(days=1))


@pytest.mark.parametrize("detector", DETECTORS)
def test_chance_alarms_stay_within_the_budget_on_poisson_noise(detector: str) -> None:
    """Twelve weeks of hourly Poisson counts with a daily cycle: at most ~1 alarm a week."""
    s = hourly_counts(days=7 * 12, seed=13, base=6.0, amp=4.0)
    params = SpikeParams(alarms_per_week=1.0, detector=detector)
    scored = score_buckets(s, params)
    weeks = scored["baseline"].notna().sum() / 168
    assert len(spikes_from_scores(scored, params)) <= 1.5 * weeks


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "cusum"},
        {"window": 0},
        {"z_threshold": 0},
        {"ratio_threshold": 0.5},
        {"season": "x"},
        {"n_scales": 0},
        {"alarms_per_week": 0},
        {"detector": "cusum"},
    ],
)
def test_bad_params_raise(kwargs: dict) -> None:
    with pytest.raises(SpikeParamsError):
        SpikeParams(**kwargs)


def test_share_spike_needs_volume_and_a_real_rise() -> None:
    idx = pd.date_range("2025-01-01", periods=24 * 20, freq="h", tz="UTC")
    rng = np.random.default_rng(8)
    total = pd.Series(rng.poisson(40, len(idx)).astype(float), index=idx)
    neg = pd.Series(rng.binomial(total.astype(int), 0.2).astype(float), index=idx)
    at = len(idx) - 30
    neg.iloc[at : at + 2] = np.round(total.iloc[at : at + 2] * 0.7)
    quiet = len(idx) - 10
    total.iloc[quiet] = 3.0
    neg.iloc[quiet] = 3.0  # 100 % negative but only 3 items
    spikes = detect_share_spike(neg, total, SpikeParams())
    found = [sp for sp in spikes if sp.at == idx[at]]
    assert len(found) == 1 and found[0].end == idx[at + 1]
    assert found[0].value == pytest.approx(0.7, abs=0.05)
    assert 0.15 < found[0].baseline < 0.25
    assert all(sp.at != idx[quiet] for sp in spikes)
    assert len(spikes) <= 2  # at most one chance alarm in 20 days of binomial noise


@functools.cache
def _load_wenzheng_daily(data: Path) -> pd.Series:
    df = pd.read_excel(data / "tipdm2020_c" / "fujian3_messages_votes.xlsx", usecols=["留言时间"])
    ts = pd.to_datetime(df["留言时间"], format="mixed")
    day = ts[ts >= "2019-01-01"].dt.floor("D").dt.tz_localize("UTC")
    counts = day.value_counts()
    return counts.reindex(
        pd.date_range(counts.index.min(), counts.index.max(), freq="D"), fill_value=0
    ).astype(float)


@pytest.fixture
def wenzheng_daily(shared_data: Path) -> pd.Series:
    """Daily 问政 message counts 2019-01-01..2020-01-26 (real)."""
    return _load_wenzheng_daily(shared_data).copy()


@pytest.mark.parametrize("method", METHODS)
def test_real_wenzheng_series_few_alarms_and_injected_burst_found(
    wenzheng_daily: pd.Series, method: str
) -> None:
    s = wenzheng_daily
    params = SpikeParams(method=method)
    weeks = len(s) / 7
    assert len(detect_spikes(s, params)) <= weeks  # at most one alarm a week on the real series
    day = s.index.get_loc(pd.Timestamp("2019-10-15", tz="UTC"))  # a Tuesday
    burst = s.copy()
    burst.iloc[day] = s.iloc[day] + 4 * s.iloc[day - 28 : day : 7].mean()
    spike = evaluate_latest(burst.iloc[: day + 1], params)
    assert spike is not None and spike.ratio > 2
