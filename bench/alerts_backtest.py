"""Backtest the spike detectors (analytics.detect) on real series with injected bursts.

Real series give the background (noise, hour-of-day/weekday cycles, crawler gaps, genuine events);
bursts of known size and start are added on top, so recall and time-to-alert are measurable:

(a) Weibo hot-search board, hourly captures 2024-06-01..2025-12-31 (the densest slice): for the
    categories with at least one entry per hour on average, the number of board entries of that
    category in each capture, plus the number of entries whose title contains a frequent keyword
    (回应 "responds", 男子/女子 "man/woman": the typical wording of social-incident topics).
    Missing captures stay missing (NaN), they are not zeros. These are stocks (entries on the
    board), so neighbouring hours are strongly correlated (lag-1 autocorrelation 0.7-0.9).
(b) 问政 messages (TipDM 2020 C, 附件3), daily counts 2019-01-01..2020-01-26 (zeros are real zeros):
    all messages, titles naming A市 / A7县 / A3区, and title+body mentioning 小区 (housing estate) or
    物业 (property management): the district and issue streams an agenda would watch (flows of new
    messages, lag-1 autocorrelation 0.1-0.4).

A burst of size k lasts ``length`` buckets (3 hours, or 2 days) and adds Poisson((k-1) * b_t)
items, where b_t is the mean of the same hour (same weekday for daily data) over the previous
28 days, so the expected value during the burst is k times the usual level. Bursts start at random
buckets at least ``gap`` apart after a 35-day warm-up.

Figures per setting: recall (a burst is caught when any of its buckets fires), precision (episodes
that start inside a burst / all episodes), false alarms per series per week (episodes starting outside
every burst, mean over the series and worst series; part of these are genuine events of the real
series, e.g. sport during the Olympics), and the median time-to-alert in evaluation intervals
(0 = the first burst bucket fired).

Splits: settings are compared on the tuning split (first half of every series, seeds 1..); the
default is then measured on the held-out split (second half, other seeds 101..) and on all data with
the original seeds (the figures reported before the multi-scale detector). "old default" is the
previous detector (EWMA, one window, z >= 3, Poisson floor). The Poisson oracle is a ceiling: it knows
each burst's usual level, draws Poisson noise, and tests every window inside the burst (with the
same min_count) at the per-bucket level a budget of one false alarm a week allows.

Run: ``.venv/bin/python bench/alerts_backtest.py`` (about two minutes on one core).
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import poisson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analytics.detect import SpikeParams, detect_spikes, score_buckets, spikes_from_scores  # noqa: E402

DATA = Path(os.environ.get("SENSING_SHARED_DATA", REPO.parent / "shared" / "data"))
MULTIPLIERS = (2.0, 3.0, 5.0)


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


@dataclass(frozen=True)
class Split:
    """Which bursts a figure is measured on: injection seeds and part of the time range."""

    name: str
    seed0: int  # seeds seed0 .. seed0 + rounds - 1
    part: str  # "all", "first" (first half of every series) or "second"


FULL = Split("all data, seeds 1.. (as before)", 1, "all")
TUNE = Split("tuning: first half, seeds 1..", 1, "first")
HELD_OUT = Split("held out: second half, seeds 101..", 101, "second")


def load_weibo() -> dict[str, pd.Series]:
    cols = ["snapshot_hour", "title", "category", "ads"]
    df = pd.read_csv(DATA / "weibo_hot_search_hourly" / "snapshots.csv.gz", usecols=cols)
    df = df[df["ads"] == 0]
    df["ts"] = pd.to_datetime(df["snapshot_hour"], utc=True)
    df = df[(df["ts"] >= "2024-05-31T16:00Z") & (df["ts"] < "2025-12-31T16:00Z")]
    df["category"] = df["category"].fillna("").str.strip()
    grid = pd.date_range(df["ts"].min(), df["ts"].max(), freq="h")
    captured = pd.Index(df["ts"].unique())
    per_cat = df.groupby(["ts", "category"]).size().unstack(fill_value=0)
    out: dict[str, pd.Series] = {}
    for cat in per_cat.columns[per_cat.mean() >= 1.0]:
        if cat:
            out[f"cat:{cat}"] = per_cat[cat].astype(float).reindex(grid)
    for label, pattern in (("kw:回应", "回应"), ("kw:男子|女子", "男子|女子")):
        hits = df[df["title"].str.contains(pattern)].groupby("ts").size()
        s = hits.reindex(captured, fill_value=0).astype(float)
        out[label] = s.reindex(grid)
    return out


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
) -> tuple[pd.Series, list[int], list[float]]:
    """Add bursts of ``mult`` times the usual level from bucket ``lo`` on (never in the warm-up).

    Returns the series, the burst starts and the usual levels.
    """
    x = s.to_numpy().copy()
    level = seasonal_level(x, stream.period, max(1, 28 * stream.per_week // 7 // stream.period))
    warmup = 35 * stream.per_week // 7
    starts: list[int] = []
    levels: list[float] = []
    t = max(warmup, lo) + int(rng.integers(0, stream.gap))
    while t + stream.length < len(x):
        span = slice(t, t + stream.length)
        base = np.nan_to_num(level[span], nan=0.0)
        valid = np.isfinite(x[span])
        if valid.any() and base[valid].mean() > 0:
            x[span] = np.where(valid, x[span] + rng.poisson((mult - 1.0) * base), np.nan)
            starts.append(t)
            levels.append(float(base[valid].mean()))
        t += stream.gap + int(rng.integers(0, stream.gap))
    return pd.Series(x, index=s.index), starts, levels


def run_one(s: pd.Series, starts: list[int], params: SpikeParams, stream: Stream, lo: int = 0) -> dict:
    """Detect on the whole series; count hits of ``starts`` and the episodes and weeks from ``lo`` on."""
    scored = score_buckets(s, params)
    fired = scored["fired"].to_numpy()
    in_burst = np.zeros(len(scored), dtype=bool)
    guard = max(params.windows) - 1
    hits: list[bool] = []
    delays: list[int] = []
    for t in starts:
        in_burst[t : t + stream.length + guard] = True
        hit = np.flatnonzero(fired[t : t + stream.length])
        hits.append(bool(hit.size))
        if hit.size:
            delays.append(int(hit[0]))
    at = scored.index.get_indexer([e.at for e in spikes_from_scores(scored, params)])
    at = at[at >= lo]
    true_ep = int(in_burst[at].sum())
    weeks = np.isfinite(scored["baseline"].to_numpy()[lo:]).sum() / stream.per_week
    return {
        "hits": hits,
        "delays": delays,
        "episodes": len(at),
        "true_ep": true_ep,
        "false_ep": len(at) - true_ep,
        "weeks": float(weeks),
    }


def evaluate(stream: Stream, params: SpikeParams, split: Split = FULL) -> dict:
    """Recall per multiplier, precision / false alarms / time-to-alert at 3x, pooled over series and seeds.

    Bursts are injected, and alarms counted, only in the ``split`` part of each series (the detector
    always sees the history before it; the first half is cut off at its end, the detector being causal).
    Also returns, for 3x, per-series figures and every burst's (usual level, caught) pair.
    """
    out: dict = {"series": {}, "bursts3x": []}
    for mult in MULTIPLIERS:
        hits: list[bool] = []
        true_ep = episodes = 0
        delays: list[int] = []
        for name, full in stream.series.items():
            mid = len(full) // 2
            s, lo = {"all": (full, 0), "first": (full.iloc[:mid], 0), "second": (full, mid)}[split.part]
            s_hits: list[bool] = []
            s_delays: list[int] = []
            s_false, s_weeks = 0, 0.0
            for seed in range(split.seed0, split.seed0 + stream.rounds):
                rng = np.random.default_rng([seed, zlib.crc32(name.encode()), int(mult * 10)])
                injected, starts, levels = inject(s, mult, stream, rng, lo)
                r = run_one(injected, starts, params, stream, lo)
                s_hits += r["hits"]
                s_delays += r["delays"]
                s_false += r["false_ep"]
                s_weeks += r["weeks"]
                true_ep += r["true_ep"]
                episodes += r["episodes"]
                if mult == 3.0:
                    out["bursts3x"] += list(zip(levels, r["hits"], strict=True))
            hits += s_hits
            delays += s_delays
            if mult == 3.0:
                out["series"][name] = {
                    "recall": float(np.mean(s_hits)) if s_hits else float("nan"),
                    "fa_week": s_false / max(s_weeks, 1e-9),
                    "tta": float(np.median(s_delays)) if s_delays else float("nan"),
                    "bursts": len(s_hits),
                }
        out[f"recall_{mult:g}x"] = float(np.mean(hits)) if hits else float("nan")
        if mult == 3.0:
            out["caught_3x"] = int(np.sum(hits))
            out["n_3x"] = len(hits)
            out["precision_3x"] = true_ep / max(episodes, 1)
            out["tta_3x"] = float(np.median(delays)) if delays else float("nan")
    fa = [v["fa_week"] for v in out["series"].values()]
    out["fa_week"] = float(np.mean(fa))
    out["fa_week_max"] = float(np.max(fa))
    return out


OLD_DEFAULT = SpikeParams(z_threshold=3.0, n_scales=1, dispersion_floor=False)
GRID: list[tuple[str, SpikeParams]] = [
    ("old default", OLD_DEFAULT),
    ("default", SpikeParams()),
    ("1 window", SpikeParams(n_scales=1)),
    ("3 windows", SpikeParams(n_scales=3)),
    ("budget 0.5/wk", SpikeParams(alarms_per_week=0.5)),
    ("budget 2/wk", SpikeParams(alarms_per_week=2.0)),
    ("Poisson floor", SpikeParams(dispersion_floor=False)),
    ("z3, 2 windows", SpikeParams(z_threshold=3.0)),
    ("mad", SpikeParams(method="mad")),
]
HEADER = f"{'setting':<16} {'rec2x':>6} {'rec3x':>6} {'rec5x':>6} {'prec3x':>6} {'FA/wk':>6} {'FAmax':>6} {'TTA3x':>5}"


def print_row(label: str, m: dict) -> None:
    print(
        f"{label:<16} {m['recall_2x']:6.3f} {m['recall_3x']:6.3f} {m['recall_5x']:6.3f} "
        f"{m['precision_3x']:6.3f} {m['fa_week']:6.2f} {m['fa_week_max']:6.2f} {m['tta_3x']:5.1f}"
    )


def poisson_oracle(
    levels: np.ndarray, stream: Stream, mult: float = 3.0, min_count: float = 5.0
) -> np.ndarray:
    """Chance that a detector knowing each burst's usual level catches it in Poisson noise.

    Every window of 1..length buckets inside the burst is tested at the Sidak share of the per-bucket
    false-alarm probability allowed by one alarm a week.
    """
    rng = np.random.default_rng(0)
    level = -np.expm1(np.log1p(-1.0 / stream.per_week) / stream.length)
    caught = np.zeros(len(levels))
    for i, b in enumerate(levels):
        sims = np.cumsum(rng.poisson(mult * b, size=(500, stream.length)), axis=1)
        hit = np.zeros(500, dtype=bool)
        for w in range(1, stream.length + 1):
            need = max(poisson.isf(level, w * b) + 1, min_count)  # smallest count with tail <= level
            sums = sims[:, w - 1 :] - np.hstack([np.zeros((500, 1)), sims[:, : stream.length - w]])
            hit |= (sums >= need).any(axis=1)
        caught[i] = hit.mean()
    return caught


def print_strata(label: str, strata: list[tuple[float, float]]) -> None:
    levels = np.array([lv for lv, _ in strata])
    hit = np.array([h for _, h in strata], dtype=float)
    cells = [
        f"[{lo:g},{hi:g}) {hit[sel].mean():.3f} ({sel.sum()})"
        for lo, hi in ((0, 2), (2, 5), (5, 10), (10, np.inf))
        if (sel := (levels >= lo) & (levels < hi)).any()
    ]
    print(f"    {label:<16} " + "  ".join(cells))


def main() -> None:
    t0 = time.perf_counter()
    weibo = Stream("weibo hot-search, hourly", load_weibo(), length=3, gap=24 * 5, period=24, per_week=168)
    wenzheng = Stream(
        "问政 messages, daily", load_wenzheng(), length=2, gap=21, period=7, per_week=7, rounds=6
    )
    streams = (weibo, wenzheng)
    for st in streams:
        levels = ", ".join(f"{k}={np.nanmean(v.to_numpy()):.1f}" for k, v in st.series.items())
        print(f"{st.name}: {len(st.series)} series, mean per bucket: {levels}")
    print("default:", SpikeParams())
    for st in streams:
        print(f"\n== {st.name}, {TUNE.name} (burst {st.length} buckets; FA = false alarms/series/week)")
        print(HEADER)
        for label, params in GRID:
            print_row(label, evaluate(st, params, TUNE))
    final: dict[str, dict[str, dict]] = {}
    for split in (HELD_OUT, FULL):
        print(f"\n== {split.name}")
        print(HEADER)
        for st in streams:
            print(f"  {st.name}")
            for label, params in (("old default", OLD_DEFAULT), ("default", SpikeParams())):
                final.setdefault(split.name, {})[f"{st.name}|{label}"] = m = evaluate(st, params, split)
                print_row(label, m)
    full = final[FULL.name]
    print(f"\n== per series, {FULL.name}: recall@3x and false alarms/week, old default -> default")
    for st in streams:
        old, new = full[f"{st.name}|old default"], full[f"{st.name}|default"]
        print(f"{st.name}:")
        for name, r in new["series"].items():
            o = old["series"][name]
            print(
                f"    {name:<14} level {np.nanmean(st.series[name].to_numpy()):5.1f}  recall3x "
                f"{o['recall']:.3f} -> {r['recall']:.3f}  FA/wk {o['fa_week']:.2f} -> {r['fa_week']:.2f}"
                f"  TTA {o['tta']:.0f} -> {r['tta']:.0f}  ({r['bursts']} bursts)"
            )
    print("recall@3x by usual level of the burst's buckets (items per bucket, bursts), both streams:")
    for label in ("old default", "default"):
        print_strata(label, [b for st in streams for b in full[f"{st.name}|{label}"]["bursts3x"]])
    oracle = {st.name: _oracle_bursts(full, st) for st in streams}
    print_strata("Poisson oracle", [b for bursts in oracle.values() for b in bursts])
    for name, bursts in oracle.items():
        print(f"    Poisson oracle recall@3x, {name}: {np.mean([p for _, p in bursts]):.3f}")
    print("largest alarms of the default on the real, uninjected series (many 'false alarms' are events):")
    for name in ("cat:体育", "cat:时事"):
        spikes = sorted(detect_spikes(weibo.series[name]), key=lambda sp: -sp.z)[:3]
        shown = ", ".join(
            f"{sp.at.tz_convert('Asia/Shanghai'):%Y-%m-%d %H:00} {sp.value:g} vs {sp.baseline:.1f}"
            for sp in spikes
        )
        print(f"    {name}: {shown}")
    for split in (HELD_OUT, FULL):
        for label in ("old default", "default"):
            print(f"{label} recall@3x, {split.name}: {pooled_recall(final[split.name], streams, label):.3f}")
    print(f"runtime {time.perf_counter() - t0:.1f}s")
    print(f"default_recall_3x: {pooled_recall(full, streams, 'default'):.3f}")


def pooled_recall(res: dict[str, dict], streams: tuple[Stream, ...], label: str) -> float:
    """Recall at 3x over the bursts of all streams."""
    runs = [res[f"{st.name}|{label}"] for st in streams]
    return sum(m["caught_3x"] for m in runs) / sum(m["n_3x"] for m in runs)


def _oracle_bursts(res: dict[str, dict], st: Stream) -> list[tuple[float, float]]:
    """(usual level, oracle catch probability) for the 3x bursts of a stream."""
    levels = np.array([lv for lv, _ in res[f"{st.name}|default"]["bursts3x"]])
    return list(zip(levels.tolist(), poisson_oracle(levels, st).tolist(), strict=True))


if __name__ == "__main__":
    main()
