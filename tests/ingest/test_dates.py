"""Tests of ingest.dates.parse_datetime."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from ingest.dates import find_datetime, parse_datetime

# 2024-05-02 10:00 in Shanghai.
NOW = datetime(2024, 5, 2, 2, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:30:00+08:00", utc(2024, 5, 1, 4, 30)),
        ("2024-05-01T04:30:00Z", utc(2024, 5, 1, 4, 30)),
        ("2024-05-01 12:30:00", utc(2024, 5, 1, 4, 30)),
        ("2024-05-01 12:30:00.250", utc(2024, 5, 1, 4, 30, 0, 250000)),
        ("Wed, 01 May 2024 12:30:00 +0800", utc(2024, 5, 1, 4, 30)),
        ("Wed, 01 May 2024 04:30:00 GMT", utc(2024, 5, 1, 4, 30)),
        ("Wed May 01 12:30:00 CST 2024", utc(2024, 5, 1, 4, 30)),
        ("Wed May 01 12:30:00 QQQ 2024", utc(2024, 5, 1, 4, 30)),  # unknown zone: source zone
        (1714537800, utc(2024, 5, 1, 4, 30)),
        (1714537800000, utc(2024, 5, 1, 4, 30)),
        (1714537800.5, utc(2024, 5, 1, 4, 30, 0, 500000)),
        (np.int64(1714537800), utc(2024, 5, 1, 4, 30)),
        ("1714537800", utc(2024, 5, 1, 4, 30)),
        ("1714537800000", utc(2024, 5, 1, 4, 30)),
        ("20240501", utc(2024, 4, 30, 16, 0)),
        ("20240501123000", utc(2024, 5, 1, 4, 30)),
        ("2024年5月1日", utc(2024, 4, 30, 16, 0)),
        ("2024年5月1日 12:30", utc(2024, 5, 1, 4, 30)),
        ("2024年05月01日12时30分", utc(2024, 5, 1, 4, 30)),
        ("2024年5月1日 下午3点", utc(2024, 5, 1, 7, 0)),
        ("２０２４年５月１日　１２：３０", utc(2024, 5, 1, 4, 30)),
        ("2018/4/24", utc(2018, 4, 23, 16, 0)),
        ("2019/2/28 11:25:05", utc(2019, 2, 28, 3, 25, 5)),
        ("5月1日", utc(2024, 4, 30, 16, 0)),
        ("05-01 12:30", utc(2024, 5, 1, 4, 30)),
        ("12月31日", utc(2023, 12, 30, 16, 0)),  # would be in the future: last year
        ("刚刚", NOW),
        ("3分钟前", NOW - timedelta(minutes=3)),
        ("2小时前", NOW - timedelta(hours=2)),
        ("半小时前", NOW - timedelta(minutes=30)),
        ("1天前", NOW - timedelta(days=1)),
        ("5 minutes ago", NOW - timedelta(minutes=5)),
        ("an hour ago", NOW - timedelta(hours=1)),
        ("今天 08:00", utc(2024, 5, 2, 0, 0)),
        ("昨天 12:30", utc(2024, 5, 1, 4, 30)),
        ("昨天12:30", utc(2024, 5, 1, 4, 30)),
        ("前天", utc(2024, 4, 29, 16, 0)),
        (pd.Timestamp("2024-05-01 12:30"), utc(2024, 5, 1, 4, 30)),
        (pd.Timestamp("2024-05-01 04:30", tz="UTC"), utc(2024, 5, 1, 4, 30)),
        (np.datetime64("2024-05-01T12:30"), utc(2024, 5, 1, 4, 30)),
        (datetime(2024, 5, 1, 12, 30), utc(2024, 5, 1, 4, 30)),
        (datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=8))), utc(2024, 5, 1, 4, 30)),
        (date(2024, 5, 1), utc(2024, 4, 30, 16, 0)),
    ],
)
def test_parse_datetime(value: object, expected: datetime) -> None:
    got = parse_datetime(value, now=NOW)
    assert got == expected
    assert got is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "hello",
        "12345",
        "2024年2月30日",
        "昨天 abc",
        float("nan"),
        pd.NaT,
        True,
        [],
        "99:99",
        1e30,
    ],
)
def test_unparseable_gives_none(value: object) -> None:
    assert parse_datetime(value, now=NOW) is None


def test_naive_values_use_the_source_zone() -> None:
    assert parse_datetime("2024-05-01 12:30", tz="UTC") == utc(2024, 5, 1, 12, 30)
    assert parse_datetime("2024-05-01 12:30", tz="Europe/Berlin") == utc(2024, 5, 1, 10, 30)
    # Aware values keep their own offset whatever the source zone.
    assert parse_datetime("2024-05-01T12:30:00+08:00", tz="UTC") == utc(2024, 5, 1, 4, 30)


def test_relative_day_words_follow_the_source_calendar() -> None:
    # 01:00 on 2 May in Shanghai is still 1 May in UTC: "昨天" is 1 May in Shanghai.
    now = utc(2024, 5, 1, 17, 0)
    assert parse_datetime("昨天 12:30", now=now) == utc(2024, 5, 1, 4, 30)
    assert parse_datetime("今天 00:30", now=now) == utc(2024, 5, 1, 16, 30)


def test_naive_now_is_read_in_the_source_zone() -> None:
    assert parse_datetime("刚刚", now=datetime(2024, 5, 2, 10, 0)) == NOW


def test_year_less_dates_roll_back_at_new_year() -> None:
    new_year = utc(2024, 1, 1, 2, 0)
    assert parse_datetime("12月31日 23:00", now=new_year) == utc(2023, 12, 31, 15, 0)
    assert parse_datetime("1月1日 09:00", now=new_year) == utc(2024, 1, 1, 1, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("发布时间：2024-03-05", utc(2024, 3, 4, 16, 0)),
        ("发布日期：2024-03-05 10:21", utc(2024, 3, 5, 2, 21)),
        ("来源：新华社 时间：2024-03-05 10:21", utc(2024, 3, 5, 2, 21)),
        ("来源：山西日报 2024年3月5日 10:21", utc(2024, 3, 5, 2, 21)),
        ("时间：2019-09-18 06:23 来源： 山西日报", utc(2019, 9, 17, 22, 23)),
    ],
)
def test_web_page_date_lines(value: str, expected: datetime) -> None:
    assert parse_datetime(value, tz="Asia/Shanghai", now=NOW) == expected


@pytest.mark.parametrize(
    ("line", "expected", "has_time"),
    [
        ("2019-09-07 13:43:45 来源: 证券市场红周刊 举报 326", utc(2019, 9, 7, 5, 43, 45), True),
        ("2019年09月11日01:53 新浪科技 我有话说", utc(2019, 9, 10, 17, 53), True),
        ("2024/3/5 浏览次数：12", utc(2024, 3, 4, 16, 0), False),
        ("加拿大必读 发布时间：10-0812:00优质原创作者", utc(2023, 10, 8, 4, 0), True),  # year of now
        ("体育教科书 发布时间：18-03-0823:16水洗工艺", utc(2018, 3, 8, 15, 16), True),
        ("来源：人民网 2024-01-02 日期：2024-03-05", utc(2024, 3, 4, 16, 0), False),  # the label wins
    ],
)
def test_find_datetime_in_a_date_line(line: str, expected: datetime, has_time: bool) -> None:
    now = datetime(2024, 2, 1, tzinfo=UTC)
    found = find_datetime(line, "Asia/Shanghai", now)
    assert found is not None and (found.value, found.has_time) == (expected, has_time)


def test_find_datetime_ignores_lines_without_a_date() -> None:
    assert find_datetime("浏览次数：12 字体：大 中 小", "Asia/Shanghai", NOW) is None
    assert find_datetime("第13-32名排位赛", "Asia/Shanghai", NOW) is None
    assert find_datetime("2024-03-05", "Asia/Shanghai", NOW, labelled_only=True) is None
