"""DemoSource: labelled, deterministic, continuous across fetches, with rhythm and bursts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.base import CHANNELS, RawItem
from ingest.registry import build_source
from ingest.sources import demo_texts
from ingest.sources.demo import MARKER, DemoSource, diurnal, load_corpora

NOW = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai


def demo(now: datetime = NOW, **options: object) -> DemoSource:
    source = build_source(
        "demo", "demo", {"use_corpora": False, **options}, channel=None, timezone="Asia/Shanghai"
    )
    assert isinstance(source, DemoSource)
    source.now = lambda: now
    return source


def items_of(source: DemoSource, cursor: dict[str, object]) -> tuple[list[RawItem], dict[str, object]]:
    batches = list(source.fetch(cursor))
    return [i for b in batches for i in b.items], batches[-1].cursor


def test_first_run_backfills_and_labels_everything() -> None:
    items, cursor = items_of(demo(), {})
    assert len(items) > 1000
    assert all(i.simulated and i.extra["marker"] == MARKER and i.extra["simulated"] for i in items)
    times = [i.published_at for i in items if i.published_at]
    assert len(times) == len(items) and min(times) >= NOW - timedelta(days=3) and max(times) <= NOW
    assert times == sorted(times)
    assert set(Counter(i.channel for i in items)) == set(CHANNELS)
    assert set(Counter(i.extra["category_hint"] for i in items)) == set(demo_texts.CATEGORIES)
    assert len({i.extra["city"] for i in items}) >= 15
    assert cursor["last_time"] == NOW.isoformat() and "anchor_hour" in cursor
    assert len({i.external_id for i in items}) == len(items)


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a, _ = items_of(demo(), {})
    b, _ = items_of(demo(), {})
    c, _ = items_of(demo(seed=7), {})
    assert [(i.external_id, i.content) for i in a] == [(i.external_id, i.content) for i in b]
    assert [i.content for i in a[:50]] != [i.content for i in c[:50]]


def test_fetches_continue_without_gaps_or_repeats() -> None:
    _, cursor = items_of(demo(), {})
    later = NOW + timedelta(hours=5, minutes=17)
    middle = NOW + timedelta(hours=2, minutes=3)
    step1, c1 = items_of(demo(middle), cursor)
    step2, _ = items_of(demo(later), c1)
    at_once, _ = items_of(demo(later), cursor)
    assert [i.external_id for i in step1 + step2] == [i.external_id for i in at_once]
    assert all(NOW < i.published_at <= later for i in at_once if i.published_at)


def test_a_fresh_demo_has_an_ongoing_gas_explosion_burst() -> None:
    items, _ = items_of(demo(), {})
    last_hours = [i for i in items if i.published_at and i.published_at > NOW - timedelta(hours=2)]
    burst = [i for i in last_hours if i.extra["scenario"] == "gas_explosion"]
    assert len(burst) >= 20
    assert any("爆炸" in i.content for i in burst)  # what the public-safety keyword rule matches
    assert len({i.extra["city"] for i in burst}) == 1  # one incident, one place
    quiet = [i for i in items if i.published_at and i.published_at < NOW - timedelta(hours=3)]
    assert all("爆炸" not in i.content for i in quiet if i.extra["scenario"] is None)


def test_diurnal_rhythm_shows_in_volume() -> None:
    items, _ = items_of(demo(bursts=False, rate_per_hour=200), {})
    by_local_hour = Counter(((i.published_at or NOW).hour + 8) % 24 for i in items)
    assert by_local_hour[21] > 3 * by_local_hour[4]
    assert diurnal(4) < 0.3 < 1.2 < diurnal(11)


def test_real_sentences_are_mixed_in_when_the_corpora_exist(shared_data: Path) -> None:
    source = demo(use_corpora=True, corpus_dir=str(shared_data))
    items, _ = items_of(source, {})
    corpus_titles = {pair.partition("\t")[0] for pair in load_corpora(str(shared_data))["hotline"]}
    hotline = [i for i in items if i.channel == "hotline" and i.extra["scenario"] is None]
    real = [i for i in hotline if i.title in corpus_titles]
    assert 0.2 < len(real) / len(hotline) < 0.6, "about 40 % of hotline items are real TIPDM messages"
    assert source.check().ok


def test_the_configured_demo_source_validates() -> None:
    assert DemoSource.options_model.model_validate({}).seed == 20240501
