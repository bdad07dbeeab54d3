"""The report's default week: the last complete week, or an archive's own newest week."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from reports.weekly import last_complete_week, newest_week_with_data
from storage.extent import data_extent
from storage.types import iso_week
from tests.dashboard.conftest import NOW
from tests.seed import seed_database

TZ = "Asia/Shanghai"


def test_default_week_follows_the_data(engine: Engine) -> None:
    assert newest_week_with_data(engine, NOW, TZ) == last_complete_week(NOW, TZ)  # empty store
    seed_database(engine, NOW)
    newest = data_extent(engine)[1]
    assert newest is not None
    assert newest_week_with_data(engine, NOW, TZ) == last_complete_week(NOW, TZ)  # live data
    later = NOW + timedelta(days=400)
    assert newest_week_with_data(engine, later, TZ) == iso_week(newest.astimezone(ZoneInfo(TZ)).date())
