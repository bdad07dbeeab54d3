"""Short-horizon forecast: model ladder, intervals, no leaked warnings."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.forecast import ForecastInputError, forecast_volume


def hourly(days: int, seed: int = 0) -> tuple[pd.Series, np.ndarray]:
    idx = pd.date_range("2025-04-01", periods=24 * days, freq="h", tz="UTC")
    lam = 10 + 6 * np.sin(2 * np.pi * idx.hour / 24)
    return pd.Series(np.random.default_rng(seed).poisson(lam).astype(float), index=idx), lam


def test_seasonal_hourly_forecast_follows_the_daily_cycle() -> None:
    s, lam = hourly(15)
    future = 10 + 6 * np.sin(2 * np.pi * np.arange(24) / 24)  # history ends at 23:00
    f = forecast_volume(s)
    assert list(f.columns) == ["ts", "mean", "lower", "upper"]
    assert len(f) == 24 and f.attrs["model"].startswith("ets(A,Ad,A")
    assert f["ts"].iloc[0] == s.index[-1] + pd.Timedelta(hours=1)
    assert (f["lower"] <= f["mean"]).all() and (f["mean"] <= f["upper"]).all() and (f["lower"] >= 0).all()
    assert np.corrcoef(f["mean"], future)[0, 1] > 0.8
    assert np.abs(f["mean"] - future).mean() < 2.5


def test_interval_coverage_is_roughly_nominal() -> None:
    inside = []
    for seed in range(3):
        s, _ = hourly(12, seed)
        hist, fut = s.iloc[:-24], s.iloc[-24:].to_numpy()
        f = forecast_volume(hist, level=0.9)
        inside.append(((fut >= f["lower"]) & (fut <= f["upper"])).mean())
    assert 0.75 <= float(np.mean(inside)) <= 1.0


def test_short_series_fall_back_to_simpler_models() -> None:
    s, _ = hourly(1)
    assert forecast_volume(s.iloc[:20]).attrs["model"] == "ets(A,N,N)"
    tiny = forecast_volume(s.iloc[:3], horizon=5)
    assert tiny.attrs["model"] == "naive-mean" and len(tiny) == 5
    assert tiny["mean"].iloc[0] == pytest.approx(s.iloc[:3].mean())
    flat = forecast_volume(pd.Series(0.0, index=s.index))
    assert (flat["mean"] == 0).all() and (flat["upper"] == 0).all()


def test_gaps_count_as_zero_and_daily_defaults_to_a_week() -> None:
    idx = pd.date_range("2025-01-01", periods=70, freq="D")
    s = pd.Series(np.random.default_rng(2).poisson(8, 70).astype(float), index=idx).drop(idx[[10, 11, 40]])
    f = forecast_volume(s)
    assert len(f) == 7 and str(f["ts"].dt.tz) == "UTC"
    assert (f["ts"].diff().dropna() == pd.Timedelta(days=1)).all()


def test_convergence_warnings_stay_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    from statsmodels.tools.sm_exceptions import ConvergenceWarning
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    original = ETSModel.fit

    def noisy_fit(self, *args, **kwargs):  # noqa: ANN001, ANN202
        warnings.warn("did not converge", ConvergenceWarning, stacklevel=2)
        warnings.warn("overflow encountered", RuntimeWarning, stacklevel=2)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ETSModel, "fit", noisy_fit)
    s, _ = hourly(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = forecast_volume(s)
    assert len(f) == 24


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ForecastInputError):
        forecast_volume(pd.Series([1.0, 2.0]))
    with pytest.raises(ForecastInputError):
        forecast_volume(hourly(2)[0], level=1.5)


@functools.cache
def _wenzheng_daily(data: Path) -> pd.Series:
    df = pd.read_excel(data / "tipdm2020_c" / "fujian3_messages_votes.xlsx", usecols=["留言时间"])
    ts = pd.to_datetime(df["留言时间"], format="mixed")
    return (
        ts[(ts >= "2019-01-01") & (ts < "2019-12-01")].dt.floor("D").value_counts().sort_index().astype(float)
    )


def test_real_daily_wenzheng_forecast_beats_the_mean(shared_data: Path) -> None:
    s = _wenzheng_daily(shared_data)
    s = s.reindex(pd.date_range(s.index.min(), s.index.max(), freq="D"), fill_value=0.0)
    hist, fut = s.iloc[:-14], s.iloc[-14:-7].to_numpy()
    f = forecast_volume(hist)
    assert f.attrs["model"] == "ets(A,Ad,A,7)"
    err_model = np.abs(f["mean"].to_numpy() - fut).mean()
    err_mean = np.abs(hist.iloc[-28:].mean() - fut).mean()
    assert err_model < err_mean  # the weekday cycle is real (weekends are quiet)
