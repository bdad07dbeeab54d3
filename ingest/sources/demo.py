"""A simulated stream for demonstrations: every channel, category and many regions, clearly labelled.

Every item has ``simulated=True`` and ``extra["marker"] == "【模拟】"``. Volume follows a daily
rhythm (quiet at night, peaks late morning and evening) and bursts are injected: one starts two
hours before the first run (a gas explosion, so a fresh demo shows a hot topic and fires the
public-safety keyword rule at once) and more follow every ``burst_every_hours``. Texts come from
built-in templates (:mod:`ingest.sources.demo_texts`) mixed with real sentences from the shared
corpora (TIPDM 问政 messages, THUCNews titles, Weibo posts) when that folder is present.

Determinism: the items of each UTC hour are a function of ``(seed, hour, anchor)`` only, so a
fetch emits exactly the items timed after the cursor and up to now; a restart neither misses nor
repeats any. The first run back-fills ``backfill_days`` so charts are not empty.
Cursor: ``{"last_time", "anchor_hour"}``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from ingest.base import CHANNELS, FetchBatch, Health, RawItem, Source, SourceOptions
from ingest.cursors import from_iso, merged, to_iso
from ingest.sources import demo_texts as T

HOUR = 3600
MARKER = "【模拟】"
_CHANNEL_WEIGHTS = {"social": 0.5, "news": 0.15, "hotline": 0.25, "gov": 0.10}


class DemoOptions(SourceOptions):
    """Options of a ``demo`` source (all optional)."""

    seed: int = Field(default=20240501, description="same seed, same stream")
    rate_per_hour: float = Field(
        default=60.0, gt=0, le=100_000, description="mean items per hour outside bursts"
    )
    backfill_days: float = Field(default=3.0, ge=0, le=60, description="history generated on the first run")
    bursts: bool = Field(default=True, description="inject incident bursts")
    burst_every_hours: int = Field(default=36, ge=6, le=24 * 30, description="hours between bursts")
    use_corpora: bool = Field(default=True, description="mix in real sentences from the shared data folder")
    corpus_dir: str | None = Field(
        default=None, description="shared data folder (default $SENSING_SHARED_DATA or ../shared/data)"
    )
    batch_size: int = Field(default=1000, ge=1, le=50_000)


def diurnal(local_hour: float) -> float:
    """Relative volume at a local hour: ~0.15 at 4 am, peaks ~1.5 near 11 am and 9 pm; mean ~1."""
    morning = math.exp(-((local_hour - 11) ** 2) / 8)
    evening = math.exp(-((local_hour - 21) ** 2) / 6)
    return 0.15 + 1.2 * morning + 1.35 * evening


def default_corpus_dir() -> Path:
    env = os.environ.get("SENSING_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


@lru_cache(maxsize=4)
def load_corpora(folder: str) -> dict[str, tuple[str, ...]]:
    """Real sentences by use: hotline (title, body) pairs flattened, news titles, social posts."""
    root = Path(folder)
    out: dict[str, tuple[str, ...]] = {"hotline": (), "news": (), "social": ()}
    tipdm = root / "tipdm2020_c" / "fujian3_messages_votes.xlsx"
    if tipdm.exists():
        import openpyxl

        book = openpyxl.load_workbook(tipdm, read_only=True, data_only=True)
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(h) for h in next(rows)]
        ti, bi = header.index("留言主题"), header.index("留言详情")
        pairs = []
        for _, row in zip(range(1500), rows, strict=False):
            if row[ti] and row[bi]:
                pairs.append(f"{row[ti]}\t{' '.join(str(row[bi]).split())}")
        book.close()
        out["hotline"] = tuple(pairs)
    thuc = root / "thucnews_titles_10cls" / "dev.txt"
    if thuc.exists():
        keep = {"1", "3", "5"}  # realty, education, society
        lines = thuc.read_text(encoding="utf-8").splitlines()
        out["news"] = tuple(t for t, _, c in (ln.rpartition("\t") for ln in lines) if c in keep and t)
    senti = root / "weibo_senti_100k_sample2400" / "weibo_senti_100k_sample2400.csv"
    if senti.exists():
        import csv

        with senti.open(encoding="utf-8-sig") as fh:
            out["social"] = tuple(r["review"].strip() for r in csv.DictReader(fh) if r.get("review"))
    return out


class DemoSource(Source):
    """The simulator."""

    kind: ClassVar[str] = "demo"
    options_model: ClassVar[type[SourceOptions]] = DemoOptions
    default_channel: ClassVar[str] = "social"
    simulated: ClassVar[bool] = True

    options: DemoOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        from zoneinfo import ZoneInfo

        self.zone = ZoneInfo(self.timezone)
        self._bursts: dict[int, list[tuple[int, T.Scenario, int]]] = {}

    def _corpora(self) -> dict[str, tuple[str, ...]]:
        if not self.options.use_corpora:
            return {}
        folder = Path(self.options.corpus_dir) if self.options.corpus_dir else default_corpus_dir()
        return load_corpora(str(folder)) if folder.is_dir() else {}

    def bursts(self, anchor: int) -> list[tuple[int, T.Scenario, int]]:
        """(start hour, scenario, region index) of every burst near ``anchor`` (hours since epoch)."""
        if not self.options.bursts:
            return []
        cached = self._bursts.get(anchor)
        if cached is not None:
            return cached
        every = self.options.burst_every_hours
        out = []
        for k in range(-8, 200):
            start = anchor + k * every
            rng = np.random.default_rng([self.options.seed, 7, start & 0xFFFFFFFF])
            # The burst at the anchor, and every fourth one, is the gas explosion: it fires alerts.
            pick = 0 if k % 4 == 0 else int(rng.integers(1, len(T.SCENARIOS)))
            out.append((start, T.SCENARIOS[pick], int(rng.integers(len(T.REGIONS)))))
        self._bursts[anchor] = out
        return out

    def hour_items(self, hour: int, anchor: int) -> list[RawItem]:
        """All items of one UTC hour (hours since the epoch), sorted by time."""
        opts = self.options
        rng = np.random.default_rng([opts.seed, hour & 0xFFFFFFFF])
        start = datetime.fromtimestamp(hour * HOUR, tz=UTC)
        local_hour = start.astimezone(self.zone).hour + 0.5
        plan: list[tuple[T.Scenario | None, int, int]] = [
            (None, int(rng.poisson(opts.rate_per_hour * diurnal(local_hour))), 0)
        ]
        for b_start, burst, region in self.bursts(anchor):
            if b_start <= hour < b_start + len(burst.shape):
                expected = burst.shape[hour - b_start] * opts.rate_per_hour / 60
                plan.append((burst, int(rng.poisson(expected)), region))
        total = sum(n for _, n, _ in plan)
        offsets = np.sort(rng.choice(HOUR * 1000, size=min(total, HOUR * 1000), replace=False))
        corpora = self._corpora()
        items: list[RawItem] = []
        k = 0
        for scenario, n, region in plan:
            for _ in range(n):
                item = self._make(rng, scenario, region, corpora)
                item.external_id = f"demo-{hour}-{k}"
                item.published_at = start + timedelta(milliseconds=int(offsets[k]))
                items.append(item)
                k += 1
        items.sort(key=lambda i: i.published_at or start)
        return items

    @staticmethod
    def _slots(
        rng: np.random.Generator, region: tuple[str, str, tuple[str, ...]], topic: str
    ) -> dict[str, Any]:
        """One item's slot values, shared by its title and body so they tell the same story."""
        _province, city, districts = region
        return {
            "city": city,
            "district": districts[int(rng.integers(len(districts)))],
            "place": T.PLACES[int(rng.integers(len(T.PLACES)))],
            "road": T.ROADS[int(rng.integers(len(T.ROADS)))],
            "school": T.SCHOOLS[int(rng.integers(len(T.SCHOOLS)))],
            "company": T.COMPANIES[int(rng.integers(len(T.COMPANIES)))],
            "n": int(rng.integers(2, 10)),
            "phone": f"13{int(rng.integers(3, 10))}{int(rng.integers(10_000_000, 99_999_999))}",
            "topic": topic,
            "body": "{body}",
        }

    def _make(
        self, rng: np.random.Generator, scenario: T.Scenario | None, region_idx: int, corpora: dict
    ) -> RawItem:
        pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
        channel = str(rng.choice(list(CHANNELS), p=[_CHANNEL_WEIGHTS[c] for c in CHANNELS]))
        region = T.REGIONS[region_idx] if scenario else T.REGIONS[int(rng.integers(len(T.REGIONS)))]
        category = scenario.category if scenario else pick(T.CATEGORIES)
        title: str | None
        reply = None
        if scenario is not None:
            channel = "social" if rng.random() < 0.75 else str(rng.choice(["news", "hotline", "gov"]))
            slots = self._slots(rng, region, scenario.topic)
            text = pick(scenario.official if channel == "gov" else scenario.posts).format(**slots)
            title = pick(scenario.titles).format(**slots) if channel != "social" else None
        else:
            t_title, t_body = pick(T.HOTLINE[category])
            topic = pick(T.TOPICS[category])
            slots = self._slots(rng, region, topic)
            body = t_body.format(**slots)
            real = corpora.get("news" if channel in ("news", "gov") else channel, ())
            if channel == "hotline":
                title, text = t_title.format(**slots), body
                if real and rng.random() < 0.4:
                    title, _, text = pick(real).partition("\t")
                if rng.random() < 0.5:
                    reply = pick(T.REPLIES).format(**slots)
            elif channel == "social":
                title = None
                if rng.random() < 0.12:
                    text = pick(T.SOCIAL_POSITIVE).format(**slots)
                elif real and rng.random() < 0.3:
                    text = pick(real)
                else:
                    text = pick(T.SOCIAL).format(**slots).replace("{body}", body)
            elif channel == "news":
                n_title, n_body = pick(T.NEWS)
                title = pick(real) if real and rng.random() < 0.3 else n_title.format(**slots)
                text = n_body.format(**slots).replace("{body}", body)
            else:
                g_title, g_body = pick(T.GOV)
                title = g_title.format(**slots)
                text = g_body.format(**slots).replace("{body}", body)
        boost = 20 if scenario else 1
        return RawItem(
            external_id="",
            content=text,
            title=title,
            channel=channel,
            region_hint=region[0] if region[0] != "西地省" else region[1],
            author=f"模拟用户{int(rng.integers(100_000))}" if channel in ("social", "hotline") else None,
            likes=int(rng.lognormal(1.5, 1.4) * boost),
            reposts=int(rng.lognormal(0.6, 1.3) * boost),
            comments=int(rng.lognormal(0.8, 1.2) * boost),
            reads=int(rng.lognormal(6, 1.5) * boost) if channel in ("news", "gov", "social") else 0,
            reply=reply,
            simulated=True,
            extra={
                "simulated": True,
                "marker": MARKER,
                "scenario": scenario.name if scenario else None,
                "category_hint": category,
                "city": region[1],
            },
        )

    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        now = self.now()
        last = from_iso(cursor.get("last_time")) or now - timedelta(days=self.options.backfill_days)
        anchor = int(cursor.get("anchor_hour") or (int(now.timestamp()) // HOUR - 2))
        base = merged(cursor, anchor_hour=anchor)
        batch: list[RawItem] = []
        for hour in range(int(last.timestamp()) // HOUR, int(now.timestamp()) // HOUR + 1):
            for item in self.hour_items(hour, anchor):
                if item.published_at is not None and last < item.published_at <= now:
                    batch.append(item)
                    if len(batch) >= self.options.batch_size:
                        yield FetchBatch(batch, merged(base, last_time=to_iso(batch[-1].published_at)))
                        batch = []
        yield FetchBatch(batch, merged(base, last_time=to_iso(now)))

    def check(self) -> Health:
        found = {k: len(v) for k, v in self._corpora().items()}
        return Health(ok=True, detail=f"simulated stream; real sentences available: {found or 'none'}")
