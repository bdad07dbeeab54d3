"""Backtest the spike detectors (analytics.detect) on real series with injected bursts.

Real series give the background (noise, hour-of-day/weekday cycles, crawler gaps, genuine events);
bursts of known size and start are added on top, so recall and time-to-alert are measurable:

(a) Weibo hot-search board, hourly captures 2024-06-01..2025-12-31 (the densest slice), as the alert
    rules see it: the number of titles FIRST sighted in each hour, per Weibo category (those with at
    least one new title per hour on average: 明星, 暂无, 社会) and per keyword (回应 "responds",
    男子/女子 "man/woman": the typical wording of social-incident topics; 0.4-0.5 an hour). A
    title's first sighting is its earliest non-promoted capture over the whole file (from
    2024-05-20, so titles already on the board on 2024-06-01 are not new), its category the one of
    that entry. Why this series: volume rules run on hourly ``n_unique`` (``alerts/rules.py``
    docstring; ``alerts/loaders.load_rollup_frame`` sums ``rollups.n_unique``), which
    ``analytics/rollups.rebuild_range`` counts as documents with ``dup_of`` NULL; ingestion sets
    ``dup_of`` on every document whose content hash matches any stored document
    (``ingest/pipeline.Ingestor._link_copies`` via ``Store.find_by_hash``: no time window). The
    file preset ``weibo_hot_search`` (``ingest/presets.py``) stores one document per entry per
    capture (id = snapshot_hour + position) with content = title, and the live ``json_api``
    preset (``ingest/sources/json_api.py``) one per title per day (content = description or
    title): either way a title seen again is a copy of its first sighting, so only first
    sightings count. (Production categories are our classifier's, ``doc_tags.category``; Weibo's
    own categories stand in for them here. Near-duplicate linking, MinHash of texts of 10+
    characters against recent first copies, would remove a few more titles; it is not simulated.)
    Hours without a capture are missing (NaN), not zero. The first capture after such a gap is
    missing too: titles that reached the board during the gap are first sighted there (after a
    one-hour gap it holds 28.5 new titles on average against 14.7), so it is not an hourly count.
    831 of 12,743 captured hours are dropped so, mostly 09:00 after a missing 08:00; the false
    alarms with those catch-up captures kept are printed too. (In production
    ``alerts/rules.pivot_counts`` fills an hour without rows with 0, so a collector gap shows as
    a zero followed by such a catch-up hour.)
(a') The board entries per capture of the same categories (those with >= 1 entry an hour) and
    keywords, the series of earlier versions of this benchmark, are kept as a separate stream,
    "board entries (stock), not a production series", so earlier figures stay comparable. These
    are stocks (a title stays on the board for hours), so neighbouring hours are strongly
    correlated (lag-1 autocorrelation 0.7-0.9) and their normal wander looks like a burst; the
    alert rules never see them.
(b) 问政 messages (TipDM 2020 C, 附件3), daily counts 2019-01-01..2020-01-26 (zeros are real zeros):
    all messages, titles naming A市 / A7县 / A3区, and title+body mentioning 小区 (housing estate) or
    物业 (property management): the district and issue streams an agenda would watch (flows of new
    messages, lag-1 autocorrelation 0.1-0.4).

Bursts. A burst of size k adds Poisson((k - 1) * b_t) items to each of its buckets, b_t being the
series' own seasonal expectation (mean of the same hour, or weekday, over the previous 28 days), so
its expected value is k times the usual level and its counts are random. It lasts 6 hours (hourly)
or 3 days (daily): a board entry-hour belongs to a topic that stays on the board 6 hours (median
over entry-hours, printed below; a topic's median stay is 2 hours, and an event puts several topics
on the board), and 问政 issue threads keep drawing messages for weeks (the largest named-estate
threads in 附件3 spread 80 % of their messages over 4-16 days), so 3 days is a short one. The
earlier 3-hour / 2-day bursts are reported too. Bursts start at random buckets at least ``gap``
apart after a 35-day warm-up.

Figures per setting: recall (a burst is caught when any of its buckets fires), recall within the
first two buckets ("early"), recall per series class (sparse: under 3 items per bucket on average;
busy: the rest), precision (episodes that start inside a burst / all episodes, on the injected
series), false alarms per series per week measured on the same series *without* injection (mean and
worst series; part of these are genuine events, e.g. sport during the Olympics), and the median
time-to-alert in evaluation intervals (0 = the first burst bucket fired). Recall at 3x is also
broken down by the usual level of the burst's buckets (items per bucket), per stream.

Splits: settings are compared on the tuning split (first half of every series, seeds 1..); the
defaults are then measured on the held-out split (second half, other seeds 101..; the detector sees
the first half as history). The headline (last line) is the default's held-out recall at 3x pooled
over the production streams (a and b); the line before it gives the stock stream's (a'). "old
default" is the single-window z >= 3 detector, "zscore" the two-window z-score detector with the
false-alarm budget (the default before the scan), "previous default" the scan before issue 20
(quasi-Poisson likelihood-ratio z over two windows; windows now skip missing hours in every setting),
"landed scan" the first issue-20 scan (exact negative-binomial tail, threshold from the normal
approximation of the largest test, level wander estimated without a prior; ``calibration="normal",
wander_prior=0, wander_memory=1``).

The Poisson oracle knows each burst's usual level, draws Poisson noise for the null and the burst
and tests every window inside the burst at the per-bucket level one alarm a week allows (Sidak
over the windows, same min_count). It bounds detectors of independent counts; on the persistent
stock series the null varies less from hour to hour than Poisson noise but its sums vary more, so it
is a reference there, not a strict bound. It also counts burst items in every hour of the burst,
while 14 % of the flow's hours are missing (no capture, or the catch-up capture after one) and carry
no items in the data; "oracle, observed" is the same oracle on the burst's observed hours only (a
burst that lost 2 of its 6 hours is 4 hours long), the bound a detector can reach on this data.

Recall at 3x is broken down by the usual level of the burst (items per bucket: [0,2), [2,5),
[5,10), 10 and up) for every setting on the tuning half (production streams pooled, with the
worst series' false alarms a week) and for the final settings on the held-out half, each with both
oracles. The last lines give the default's gap to the oracles in the lowest bin, held out
(``sparse_gap_to_oracle``: oracle minus default under 2 items per bucket).

Run: ``.venv/bin/python bench/alerts_backtest.py`` (about eight minutes on one core).
``--tune`` runs only the tuning half of the production streams at 3x (recall by level for every
setting, worst series' false alarms a week, the oracles; about a minute plus 3 s a setting), and
``--only LABEL[,LABEL...]`` limits either mode's tuning grid to those settings.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import poisson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analytics.detect import SpikeParams, detect_spikes, score_buckets, spikes_from_scores  # noqa: E402

DATA = Path(os.environ.get("SENSING_SHARED_DATA", REPO.parent / "shared" / "data"))
MULTIPLIERS = (2.0, 3.0, 5.0)
SPARSE_BELOW = 3.0  # items per bucket on average: sparse series class
EARLIER_LENGTHS = (3, 2)  # burst lengths of the earlier backtest (hourly, daily)


@dataclass(frozen=True)
class Stream:
    """A family of real series evaluated the same way."""

    name: str
    series: dict[str, pd.Series]
    length: int  # burst length in buckets
    gap: int  # minimum buckets between burst starts
    period: int  # seasonal period used to size bursts
    per_week: int  # buckets per week
    rounds: int = 2  # injection rounds per series
    production: bool = True  # the series the alert rules watch (else reported for comparison only)


@dataclass(frozen=True)
class Split:
    """Which bursts a figure is measured on: injection seeds and part of the time range."""

    name: str
    seed0: int  # seeds seed0 .. seed0 + rounds - 1
    part: str  # "first" (first half of every series) or "second"


TUNE = Split("tuning: first half, seeds 1..", 1, "first")
HELD_OUT = Split("held out: second half, seeds 101..", 101, "second")


WEIBO_FROM, WEIBO_TO = "2024-05-31T16:00Z", "2025-12-31T16:00Z"  # 2024-06-01 .. 2025-12-31, Beijing time
KEYWORDS = (("kw:回应", "回应"), ("kw:男子|女子", "男子|女子"))


def read_board() -> pd.DataFrame:
    """Every non-promoted board entry of the whole file (2024-05-20 on): ts (capture hour), title, category."""
    cols = ["snapshot_hour", "title", "category", "ads"]
    df = pd.read_csv(DATA / "weibo_hot_search_hourly" / "snapshots.csv.gz", usecols=cols)
    df = df[df["ads"] == 0].drop(columns="ads")
    df["ts"] = pd.to_datetime(df["snapshot_hour"], utc=True)
    df["category"] = df["category"].fillna("").str.strip()
    return df


def board_grid(board: pd.DataFrame) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """The hourly grid of the evaluated slice and the captured hours in it."""
    ts = pd.DatetimeIndex(board["ts"].unique()).sort_values()
    captured = ts[(ts >= WEIBO_FROM) & (ts < WEIBO_TO)]
    return pd.date_range(captured[0], captured[-1], freq="h"), captured


def per_capture(
    rows: pd.DataFrame, key: pd.Series | None, grid: pd.DatetimeIndex, captured: pd.Index
) -> dict:
    """Counts per captured hour (0 when none) on the grid (NaN where nothing was captured)."""
    if key is None:
        return {"": rows.groupby("ts").size().reindex(captured, fill_value=0).reindex(grid).astype(float)}
    table = rows.groupby(["ts", key]).size().unstack(fill_value=0).reindex(captured, fill_value=0)
    return {c: table[c].reindex(grid).astype(float) for c in table.columns}


def load_weibo_stock(board: pd.DataFrame) -> dict[str, pd.Series]:
    """Board entries per capture (a stock): per category with >= 1 entry an hour, and per keyword."""
    grid, captured = board_grid(board)
    df = board[board["ts"].isin(grid)]
    cats = per_capture(df, df["category"], grid, captured)
    out = {f"cat:{c}": s for c, s in cats.items() if c and np.nanmean(s.to_numpy()) >= 1.0}
    for label, pattern in KEYWORDS:
        out[label] = per_capture(df[df["title"].str.contains(pattern)], None, grid, captured)[""]
    return out


def after_gap(grid: pd.DatetimeIndex, captured: pd.DatetimeIndex) -> np.ndarray:
    """Captured hours whose previous hour was not captured (their new titles include the gap's)."""
    seen = grid.isin(captured)
    before = (grid - pd.Timedelta(hours=1)).isin(captured) | (grid == grid[0])
    return seen & ~before


def load_weibo_first(board: pd.DataFrame, keep_after_gap: bool = False) -> dict[str, pd.Series]:
    """Titles first sighted in each hour (the production ``n_unique``): per category and keyword.

    A title's first sighting is its earliest capture in the whole file, its category the one of that
    entry. Hours without a capture are NaN; so is, unless ``keep_after_gap``, the first capture after
    one (it holds the titles that reached the board during the gap too).
    """
    grid, captured = board_grid(board)
    first = board.sort_values("ts", kind="stable").drop_duplicates("title")
    first = first[first["ts"].isin(grid)]
    drop = np.zeros(len(grid), dtype=bool) if keep_after_gap else after_gap(grid, captured)
    cats = per_capture(first, first["category"], grid, captured)
    series = {f"cat:{c}": s for c, s in cats.items() if c}
    for label, pattern in KEYWORDS:
        series[label] = per_capture(first[first["title"].str.contains(pattern)], None, grid, captured)[""]
    out = {}
    for name, s in series.items():
        s = s.mask(drop)
        if name.startswith("kw:") or np.nanmean(s.to_numpy()) >= 1.0:
            out[name] = s
    return out


def board_dwell() -> tuple[float, float]:
    """Hours a topic stays on the board, 2024-06..2025-12: median per topic and per entry-hour."""
    topics = pd.read_csv(
        DATA / "weibo_hot_search_hourly" / "topics.csv.gz", usecols=["first_seen_hour", "n_snapshots"]
    )
    first = pd.to_datetime(topics["first_seen_hour"], utc=True)
    n = topics.loc[(first >= WEIBO_FROM) & (first < WEIBO_TO), "n_snapshots"].to_numpy()
    return float(np.median(n)), float(np.median(np.repeat(n, n)))


def load_wenzheng() -> dict[str, pd.Series]:
    df = pd.read_excel(DATA / "tipdm2020_c" / "fujian3_messages_votes.xlsx")
    df["ts"] = pd.to_datetime(df["留言时间"], format="mixed")
    df = df[df["ts"] >= "2019-01-01"]
    df["day"] = df["ts"].dt.floor("D").dt.tz_localize("UTC")
    grid = pd.date_range(df["day"].min(), df["day"].max(), freq="D")
    text = df["留言主题"] + " " + df["留言详情"].astype(str)
    masks = {
        "all": np.ones(len(df), dtype=bool),
        "title:A市": df["留言主题"].str.contains("A市"),
        "title:A7县": df["留言主题"].str.contains("A7县"),
        "title:A3区": df["留言主题"].str.contains("A3区"),
        "text:小区": text.str.contains("小区"),
        "text:物业": text.str.contains("物业"),
    }
    return {
        k: df[m].groupby("day").size().reindex(grid, fill_value=0).astype(float) for k, m in masks.items()
    }


def seasonal_level(x: np.ndarray, period: int, n_lags: int) -> np.ndarray:
    """Mean of the same phase over the previous ``n_lags`` periods (NaN-aware)."""
    lags = np.full((len(x), n_lags), np.nan)
    for k in range(1, n_lags + 1):
        lags[k * period :, k - 1] = x[: len(x) - k * period]
    ok = np.isfinite(lags).any(axis=1)
    out = np.full(len(x), np.nan)
    out[ok] = np.nanmean(lags[ok], axis=1)
    return out


def inject(
    s: pd.Series, mult: float, stream: Stream, rng: np.random.Generator, lo: int = 0
) -> tuple[pd.Series, list[int], list[float], list[int]]:
    """Add bursts of ``mult`` times the usual level from bucket ``lo`` on (never in the warm-up).

    Returns the series, the burst starts, the usual levels and the observed (not missing) buckets of
    every burst.
    """
    x = s.to_numpy().copy()
    level = seasonal_level(x, stream.period, max(1, 28 * stream.per_week // 7 // stream.period))
    warmup = 35 * stream.per_week // 7
    starts: list[int] = []
    levels: list[float] = []
    observed: list[int] = []
    t = max(warmup, lo) + int(rng.integers(0, stream.gap))
    while t + stream.length < len(x):
        span = slice(t, t + stream.length)
        base = np.nan_to_num(level[span], nan=0.0)
        valid = np.isfinite(x[span])
        if valid.any() and base[valid].mean() > 0:
            x[span] = np.where(valid, x[span] + rng.poisson((mult - 1.0) * base), np.nan)
            starts.append(t)
            levels.append(float(base[valid].mean()))
            observed.append(int(valid.sum()))
        t += stream.gap + int(rng.integers(0, stream.gap))
    return pd.Series(x, index=s.index), starts, levels, observed


def split_series(full: pd.Series, split: Split) -> tuple[pd.Series, int]:
    """The series the detector sees and the first bucket that counts (the first half is cut at its end)."""
    mid = len(full) // 2
    return (full.iloc[:mid], 0) if split.part == "first" else (full, mid)


def false_alarms(s: pd.Series, params: SpikeParams, per_week: int, lo: int) -> float:
    """Alarm episodes per week from bucket ``lo`` on, on a series without injected bursts."""
    scored = score_buckets(s, params)
    at = scored.index.get_indexer([e.at for e in spikes_from_scores(scored, params)])
    weeks = np.isfinite(scored["baseline"].to_numpy()[lo:]).sum() / per_week
    return float((at >= lo).sum() / max(weeks, 1e-9))


def run_one(s: pd.Series, starts: list[int], params: SpikeParams, stream: Stream, lo: int) -> dict:
    """Detect on the whole series; hits and delays of the bursts, true and all episodes from ``lo`` on."""
    scored = score_buckets(s, params)
    fired = scored["fired"].to_numpy()
    in_burst = np.zeros(len(scored), dtype=bool)
    delays: list[float] = []
    for t in starts:
        in_burst[t : t + stream.length + max(params.scan_windows) - 1] = True
        hit = np.flatnonzero(fired[t : t + stream.length])
        delays.append(float(hit[0]) if hit.size else np.inf)
    at = scored.index.get_indexer([e.at for e in spikes_from_scores(scored, params)])
    at = at[at >= lo]
    return {"delays": delays, "episodes": len(at), "true_ep": int(in_burst[at].sum())}


def evaluate(
    stream: Stream, params: SpikeParams, split: Split, multipliers: tuple[float, ...] = MULTIPLIERS
) -> dict:
    """Recall per multiplier; at 3x also early recall, per-class recall, precision, time-to-alert.

    Bursts are injected, and alarms counted, only in the ``split`` part of each series. False alarms
    come from the series without injection. Also returns per-series figures and, for 3x, every
    burst's usual level and delay (inf: missed).
    """
    out: dict = {"series": {}, "levels": [], "observed": [], "delays": []}
    for mult in multipliers:
        delays: list[float] = []
        true_ep = episodes = 0
        for name, full in stream.series.items():
            s, lo = split_series(full, split)
            s_delays: list[float] = []
            for seed in range(split.seed0, split.seed0 + stream.rounds):
                rng = np.random.default_rng([seed, zlib.crc32(name.encode()), int(mult * 10)])
                injected, starts, levels, observed = inject(s, mult, stream, rng, lo)
                r = run_one(injected, starts, params, stream, lo)
                s_delays += r["delays"]
                true_ep += r["true_ep"]
                episodes += r["episodes"]
                if mult == 3.0:
                    out["levels"] += levels
                    out["observed"] += observed
            delays += s_delays
            if mult == 3.0:
                d = np.array(s_delays)
                out["series"][name] = {
                    "recall": float(np.isfinite(d).mean()),
                    "fa_week": false_alarms(s, params, stream.per_week, lo),
                    "bursts": len(d),
                    "sparse": bool(np.nanmean(full.to_numpy()) < SPARSE_BELOW),
                }
        d = np.array(delays)
        out[f"recall_{mult:g}x"] = float(np.isfinite(d).mean())
        if mult == 3.0:
            out["delays"] = delays
            out["early_3x"] = float((d <= 1).mean())
            out["tta_3x"] = float(np.median(d[np.isfinite(d)])) if np.isfinite(d).any() else float("nan")
            out["precision_3x"] = true_ep / max(episodes, 1)
    sparse = np.array([v["sparse"] for v in out["series"].values() for _ in range(v["bursts"])])
    caught = np.isfinite(np.array(out["delays"]))
    out["sparse_3x"] = float(caught[sparse].mean()) if sparse.any() else float("nan")
    out["busy_3x"] = float(caught[~sparse].mean()) if (~sparse).any() else float("nan")
    fa = [v["fa_week"] for v in out["series"].values()]
    out["fa_week"], out["fa_week_max"] = float(np.mean(fa)), float(np.max(fa))
    return out


OLD_DEFAULT = SpikeParams(detector="zscore", z_threshold=3.0, n_scales=1, dispersion_floor=False)
ZSCORE = SpikeParams(detector="zscore")
PREVIOUS = SpikeParams(overdispersion="quasi", tail="glr", sparse_scales=2, calibration="normal")
LANDED = SpikeParams(calibration="normal", wander_prior=0.0, wander_memory=1.0)
GRID: list[tuple[str, SpikeParams]] = [
    ("old default", OLD_DEFAULT),
    ("zscore", ZSCORE),
    ("default (scan)", SpikeParams()),
    ("previous default", PREVIOUS),
    ("landed scan", LANDED),
    ("normal threshold", SpikeParams(calibration="normal")),
    ("no wander prior", SpikeParams(wander_prior=0.0)),
    ("wander prior 3", SpikeParams(wander_prior=3.0)),
    ("wander prior 5", SpikeParams(wander_prior=5.0)),
    ("wander memory 1x", SpikeParams(wander_memory=1.0)),
    ("GLR z", SpikeParams(tail="glr")),
    ("NB mid-p tail", SpikeParams(tail="midp")),
    ("quasi disp.", SpikeParams(overdispersion="quasi")),
    ("2 windows", SpikeParams(sparse_scales=2)),
    ("1 window", SpikeParams(n_scales=1, sparse_scales=1)),
    ("no one-step", SpikeParams(autoregressive=False)),
    ("budget 0.5/wk", SpikeParams(alarms_per_week=0.5)),
    ("budget 2/wk", SpikeParams(alarms_per_week=2.0)),
    ("Poisson", SpikeParams(dispersion_floor=False)),
    ("mad", SpikeParams(method="mad")),
    ("min_count 4", SpikeParams(min_count=4)),
    ("window 2", SpikeParams(window=2)),
    ("window 3", SpikeParams(window=3)),
]
FINAL = GRID[:5]
HEADER = (
    f"{'setting':<16} {'rec2x':>6} {'rec3x':>6} {'rec5x':>6} {'early3x':>7} {'sparse':>6} {'busy':>6} "
    f"{'prec3x':>6} {'FA/wk':>6} {'FAmax':>6} {'TTA3x':>5}"
)


def print_row(label: str, m: dict) -> None:
    print(
        f"{label:<16} {m['recall_2x']:6.3f} {m['recall_3x']:6.3f} {m['recall_5x']:6.3f} {m['early_3x']:7.3f} "
        f"{m['sparse_3x']:6.3f} {m['busy_3x']:6.3f} {m['precision_3x']:6.3f} {m['fa_week']:6.2f} "
        f"{m['fa_week_max']:6.2f} {m['tta_3x']:5.1f}"
    )


def poisson_oracle(
    levels: np.ndarray,
    stream: Stream,
    mult: float = 3.0,
    min_count: float = 5.0,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """Chance that a detector knowing each burst's usual level catches it in Poisson noise.

    Every window of 1..length buckets inside the burst is tested at the Sidak share of the per-bucket
    false-alarm probability allowed by one alarm a week. With ``observed`` (the burst's buckets that
    are not missing), only those carry counts, as in the data: a burst that lost 2 of its 6 hours to
    a crawler gap is tested as 4 consecutive hours (missing hours skipped, not counted as quiet).
    """
    rng = np.random.default_rng(0)
    level = -np.expm1(np.log1p(-1.0 / stream.per_week) / stream.length)
    caught = np.zeros(len(levels))
    for i, b in enumerate(levels):
        n = stream.length if observed is None else int(observed[i])
        sims = np.cumsum(rng.poisson(mult * b, size=(500, n)), axis=1)
        hit = np.zeros(500, dtype=bool)
        for w in range(1, n + 1):
            need = max(poisson.isf(level, w * b) + 1, min_count)  # smallest count with tail <= level
            sums = sims[:, w - 1 :] - np.hstack([np.zeros((500, 1)), sims[:, : n - w]])
            hit |= (sums >= need).any(axis=1)
        caught[i] = hit.mean()
    return caught


def print_strata(label: str, levels: np.ndarray, hit: np.ndarray) -> None:
    """One line of recall per level bin (items per bucket), with the number of bursts."""
    cells = [
        f"[{lo:g},{hi:g}) {hit[sel].mean():.3f} ({sel.sum()})"
        for lo, hi in ((0, 2), (2, 5), (5, 10), (10, np.inf))
        if (sel := (levels >= lo) & (levels < hi)).any()
    ]
    print(f"    {label:<28} " + "  ".join(cells))


def pooled(runs: list[dict], key: str = "delays") -> float:
    """Recall at 3x over the bursts of several streams."""
    d = np.concatenate([np.asarray(m[key], dtype=float) for m in runs])
    return float(np.isfinite(d).mean())


def print_per_series(streams: tuple[Stream, ...], final: dict) -> None:
    """Held-out recall@3x and false alarms/week of every series, zscore -> default."""
    print(
        f"\n== per series, {HELD_OUT.name}: recall@3x and false alarms/week (no injection), landed scan -> default"
    )
    for st in streams:
        old, new = (
            final[(st.length, st.name, "landed scan")],
            final[(st.length, st.name, "default (scan)")],
        )
        print(f"{st.name}:")
        for name, r in new["series"].items():
            o = old["series"][name]
            print(
                f"    {name:<14} level {np.nanmean(st.series[name].to_numpy()):5.1f}  recall3x "
                f"{o['recall']:.3f} -> {r['recall']:.3f}  FA/wk {o['fa_week']:.2f} -> {r['fa_week']:.2f}"
                f"  ({r['bursts']} bursts)"
            )


def print_levels(groups: dict[str, tuple[Stream, ...]], final: dict) -> None:
    """Held-out recall@3x by the usual level of the burst's buckets, with the Poisson oracle."""
    print("recall@3x by usual level of the burst's buckets (items per bucket, bursts), held out:")
    for title, group in groups.items():
        print(f"  {title}")
        levels = np.concatenate([final[(st.length, st.name, "default (scan)")]["levels"] for st in group])
        for label, _ in FINAL:
            hit = np.isfinite(np.concatenate([final[(st.length, st.name, label)]["delays"] for st in group]))
            print_strata(label, levels, hit)
        ms = [final[(st.length, st.name, "default (scan)")] for st in group]
        print_oracles(levels, ms, group)


def print_oracles(levels: np.ndarray, ms: list[dict], group: tuple[Stream, ...]) -> dict[str, np.ndarray]:
    """The Poisson oracle's recall by level, on every burst bucket and on the observed ones only."""
    out = {
        "Poisson oracle": np.concatenate(
            [poisson_oracle(np.array(m["levels"]), st) for m, st in zip(ms, group, strict=True)]
        ),
        "oracle, observed": np.concatenate(
            [
                poisson_oracle(np.array(m["levels"]), st, observed=np.array(m["observed"]))
                for m, st in zip(ms, group, strict=True)
            ]
        ),
    }
    for label, hit in out.items():
        print_strata(label, levels, hit)
    return out


def lowest_bin_gap(levels: np.ndarray, hit: np.ndarray, oracle: np.ndarray) -> float:
    """Oracle minus detector recall on bursts under 2 items per bucket."""
    sel = levels < 2
    return float(oracle[sel].mean() - hit[sel].mean())


def print_catch_up(board: pd.DataFrame, flow: Stream) -> None:
    """False alarms of the default when the first capture after a gap keeps its catch-up titles."""
    kept = load_weibo_first(board, keep_after_gap=True)
    print("\nfirst sightings with the first capture after a gap kept (catch-up), default, FA/wk per series:")
    for split in (TUNE, HELD_OUT):
        fa = {}
        for name in flow.series:
            s, lo = split_series(kept[name], split)
            fa[name] = false_alarms(s, SpikeParams(), flow.per_week, lo)
        shown = ", ".join(f"{k} {v:.2f}" for k, v in fa.items())
        print(
            f"    {split.name}: mean {np.mean(list(fa.values())):.2f}, max {max(fa.values()):.2f} ({shown})"
        )


def tune_only(production: tuple[Stream, ...], grid: list[tuple[str, SpikeParams]], t0: float) -> None:
    """``--tune``: recall at 3x by level on the tuning half of the production streams, every setting."""
    print(f"\nrecall@3x by usual level (items per bucket, bursts), production streams pooled, {TUNE.name}:")
    runs: dict[str, list[dict]] = {}
    for label, params in grid:
        runs[label] = ms = [evaluate(st, params, TUNE, (3.0,)) for st in production]
        levels = np.concatenate([m["levels"] for m in ms])
        d = np.concatenate([np.asarray(m["delays"], dtype=float) for m in ms])
        worst = max(((v["fa_week"], k) for m in ms for k, v in m["series"].items()))
        tta = np.median(d[np.isfinite(d) & (levels >= 2)])
        print_strata(f"{label} (FAmax {worst[0]:.2f} {worst[1]}, TTA>=2 {tta:.0f})", levels, np.isfinite(d))
    ms = runs[grid[0][0]]
    print_oracles(np.concatenate([m["levels"] for m in ms]), ms, production)
    print(f"runtime {time.perf_counter() - t0:.1f}s")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    grid = GRID
    if "--only" in args:
        wanted = args[args.index("--only") + 1].split(",")
        grid = [(label, p) for label, p in GRID if label in wanted]
        unknown = set(wanted) - {label for label, _ in grid}
        if unknown:
            raise SystemExit(f"unknown settings: {', '.join(sorted(unknown))}")
    t0 = time.perf_counter()
    per_topic, per_entry_hour = board_dwell()
    print(f"weibo board dwell: median {per_topic:g} h per topic, {per_entry_hour:g} h per entry-hour")
    board = read_board()
    hourly: dict[str, Any] = {"length": 6, "gap": 24 * 5, "period": 24, "per_week": 168}
    flow = Stream("weibo first sightings (n_unique), hourly", load_weibo_first(board), **hourly)
    wenzheng = Stream(
        "问政 messages, daily", load_wenzheng(), length=3, gap=21, period=7, per_week=7, rounds=6
    )
    stock = Stream(
        "weibo board entries (stock), not a production series",
        load_weibo_stock(board),
        **hourly,
        production=False,
    )
    _, captured = board_grid(board)
    gaps = int(after_gap(*board_grid(board)).sum())
    print(
        f"weibo: {len(captured)} captured hours, {gaps} of them right after a gap (missing in the flow series)"
    )
    streams = (flow, wenzheng, stock)
    for st in streams:
        levels = ", ".join(f"{k}={np.nanmean(v.to_numpy()):.1f}" for k, v in st.series.items())
        print(f"{st.name}: {len(st.series)} series, mean per bucket: {levels}")
    print("default:", SpikeParams())
    if "--tune" in args:
        tune_only(tuple(st for st in streams if st.production), grid, t0)
        return
    grid = FINAL + [item for item in grid if item not in FINAL]
    tuned: dict[tuple[str, str], dict] = {}
    for st in streams:
        print(f"\n== {st.name}, {TUNE.name} (burst {st.length} buckets; FA = false alarms/series/week)")
        print(HEADER)
        for label, params in grid:
            tuned[(st.name, label)] = m = evaluate(st, params, TUNE)
            print_row(label, m)
    production = tuple(st for st in streams if st.production)
    print(f"\nrecall@3x by usual level (items per bucket, bursts), production streams pooled, {TUNE.name}:")
    tune_levels = np.concatenate([tuned[(st.name, "default (scan)")]["levels"] for st in production])
    for label, _ in grid:
        tuned_runs = [tuned[(st.name, label)] for st in production]
        hit = np.isfinite(np.concatenate([m["delays"] for m in tuned_runs]))
        fa = max(m["fa_week_max"] for m in tuned_runs)
        print_strata(f"{label} (FAmax {fa:.2f})", tune_levels, hit)
    print_oracles(tune_levels, [tuned[(st.name, "default (scan)")] for st in production], production)
    final: dict[tuple[int, str, str], dict] = {}
    for hourly_n, daily_n in ((flow.length, wenzheng.length), EARLIER_LENGTHS):
        runs = [replace(st, length=daily_n if st is wenzheng else hourly_n) for st in streams]
        print(f"\n== {HELD_OUT.name}, bursts of {' / '.join(str(st.length) for st in runs)} buckets")
        print(HEADER)
        for st in runs:
            print(f"  {st.name}")
            for label, params in FINAL:
                final[(st.length, st.name, label)] = m = evaluate(st, params, HELD_OUT)
                print_row(label, m)
        for label, _ in FINAL:
            ms = [final[(st.length, st.name, label)] for st in runs if st.production]
            d = np.concatenate([np.asarray(m["delays"]) for m in ms])
            tta = np.median(d[np.isfinite(d)])
            print(f"  pooled production {label:<16} recall3x {pooled(ms):.3f}  TTA {tta:.1f}")
        oracle = {
            st.name: poisson_oracle(np.array(final[(st.length, st.name, "default (scan)")]["levels"]), st)
            for st in runs
        }
        prod = np.concatenate([oracle[st.name] for st in runs if st.production])
        print(
            "  Poisson oracle recall@3x: "
            + ", ".join(f"{k} {v.mean():.3f}" for k, v in oracle.items())
            + f", pooled production {prod.mean():.3f}"
        )
    print_per_series(streams, final)
    print_levels({"production streams (pooled)": production, **{st.name: (st,) for st in streams}}, final)
    print_catch_up(board, flow)
    print("largest alarms of the default on the real, uninjected series (many 'false alarms' are events):")
    for st, names in ((flow, ("cat:社会", "kw:回应")), (stock, ("cat:体育", "cat:时事"))):
        for name in names:
            spikes = sorted(detect_spikes(st.series[name]), key=lambda sp: -sp.z)[:3]
            shown = ", ".join(
                f"{sp.at.tz_convert('Asia/Shanghai'):%Y-%m-%d %H:00} {sp.value:g} vs {sp.baseline:.1f}"
                for sp in spikes
            )
            print(f"    {'flow' if st.production else 'stock'} {name}: {shown}")
    print(f"runtime {time.perf_counter() - t0:.1f}s")
    print(f"stock_recall_3x_held_out: {pooled([final[(stock.length, stock.name, 'default (scan)')]]):.3f}")
    held = [final[(st.length, st.name, "default (scan)")] for st in production]
    print(f"default_recall_3x_held_out_production: {pooled(held):.3f}")
    held_levels = np.concatenate([m["levels"] for m in held])
    held_hit = np.isfinite(np.concatenate([m["delays"] for m in held]))
    with contextlib.redirect_stdout(io.StringIO()):
        oracles = print_oracles(held_levels, held, production)
    observed_gap = lowest_bin_gap(held_levels, held_hit, oracles["oracle, observed"])
    print(f"sparse_gap_to_oracle_observed_buckets: {observed_gap:.3f}")
    print(f"sparse_gap_to_oracle: {lowest_bin_gap(held_levels, held_hit, oracles['Poisson oracle']):.3f}")


if __name__ == "__main__":
    main()
