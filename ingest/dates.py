"""Parsing of publication times as sources write them, into aware UTC datetimes.

Handled forms: ``datetime``/``date`` (and pandas ``Timestamp``, a ``datetime`` subclass), numpy
``datetime64``, epoch seconds / milliseconds / microseconds (numbers or digit strings), compact
digits (``20240501``, ``202405011230``, ``20240501123000``), ISO 8601 and RFC 822 (through
``dateutil``), Chinese absolute forms (``2024年5月1日 12:30``, ``5月1日``, ``下午3点``, ``2018/4/24``,
``05-01 12:30``), web-page date lines (``发布时间：2024-03-05``, ``来源：新华社 时间：2024-03-05 10:21``,
``日期：2024/3/5``: the first date after a label, see :func:`find_datetime`) and Weibo-style relative
forms (``刚刚``, ``3分钟前``, ``2小时前``, ``昨天 12:30``, ``前天``, ``今天 08:00``, ``5 minutes ago``).

Naive values are read in the source's time zone. A value without a year takes the year of ``now``
in that zone, or the year before if that would put it more than a day in the future. Anything that
cannot be read gives None; callers count those.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from dateutil import parser as date_parser
from dateutil.relativedelta import relativedelta

logger = logging.getLogger(__name__)

MIN_YEAR = 1900
MAX_YEAR = 2100

_H = 3600
# Abbreviations seen in feeds. CST is China Standard Time here: Chinese servers (Java's
# Date.toString) write "CST" for +08:00, which is what our sources mean by it.
_TZINFOS: dict[str, int] = {
    "UTC": 0,
    "GMT": 0,
    "UT": 0,
    "Z": 0,
    "CST": 8 * _H,
    "BJT": 8 * _H,
    "HKT": 8 * _H,
    "SGT": 8 * _H,
    "JST": 9 * _H,
    "KST": 9 * _H,
    "EST": -5 * _H,
    "EDT": -4 * _H,
    "PST": -8 * _H,
    "PDT": -7 * _H,
    "CET": 1 * _H,
    "CEST": 2 * _H,
}
_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９：－／．　", "0123456789:-/. ")

_ZH_NUMBERS = {"一": 1.0, "两": 2.0, "二": 2.0, "三": 3.0, "半": 0.5}
_REL_UNITS: dict[str, str] = {
    "秒": "seconds",
    "秒钟": "seconds",
    "second": "seconds",
    "sec": "seconds",
    "分": "minutes",
    "分钟": "minutes",
    "minute": "minutes",
    "min": "minutes",
    "小时": "hours",
    "钟头": "hours",
    "hour": "hours",
    "hr": "hours",
    "天": "days",
    "日": "days",
    "day": "days",
    "周": "weeks",
    "星期": "weeks",
    "礼拜": "weeks",
    "week": "weeks",
    "月": "months",
    "month": "months",
    "年": "years",
    "year": "years",
}
_REL_RE = re.compile(
    r"^(?P<n>\d+(?:\.\d+)?|[一两二三半])\s*个?\s*(?:多)?\s*"
    r"(?P<u>秒钟?|分钟|分|小时|钟头|天|日|周|星期|礼拜|月|年)\s*(?:以)?前$"
)
_REL_EN_RE = re.compile(
    r"^(?P<n>\d+|an?)\s*(?P<u>second|sec|minute|min|hour|hr|day|week|month|year)s?\s+ago$", re.I
)
_JUST_NOW = frozenset({"刚刚", "刚才", "just now", "now", "片刻前"})
_DAY_WORDS = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "today": 0, "yesterday": 1}
_DAY_WORD_RE = re.compile(r"^(?P<w>今天|今日|昨天|昨日|前天|today|yesterday)\s*(?P<rest>.*)$", re.I)
_CLOCK = (
    r"(?P<ampm>上午|中午|下午|晚上|傍晚|凌晨|早上|早晨|夜里|am|pm)?\s*"
    r"(?P<H>\d{1,2})\s*(?:[:时点]\s*(?P<M>\d{1,2}|半)?\s*分?\s*(?::\s*(?P<S>\d{1,2})|(?P<S2>\d{1,2})\s*秒)?)?"
    r"\s*(?P<ampm2>am|pm)?"
)
_CLOCK_RE = re.compile(rf"^{_CLOCK}$", re.I)
_ZH_DATE_RE = re.compile(
    r"^(?:(?P<y>\d{4})\s*[年/.-]\s*)?(?P<m>\d{1,2})\s*[月/.-]\s*(?P<d>\d{1,2})\s*[日号]?"
    rf"(?:\s*(?:T\s*)?{_CLOCK})?$",
    re.I,
)
_PM_WORDS = frozenset({"下午", "晚上", "傍晚", "夜里", "pm"})

# Date lines of web pages: a label, then the date (see find_datetime).
_LABEL_RE = re.compile(
    r"(?:发布|发表|成文|印发|更新|上传|创建)?(?:时间|日期)\s*[:：]|发布于|\bpublished\s*:?|\bdate\s*:", re.I
)
_HMS_REQUIRED = r"(?:\s*(?P<H>[01]?\d|2[0-3])\s*[:：时]\s*(?P<M>[0-5]\d)(?:\s*[:：分]\s*(?P<S>[0-5]\d))?)"
_HMS = _HMS_REQUIRED + "?"
FULL_DATE_RE = re.compile(  # a full date anywhere in text: 2024-03-05 10:21, 2024年3月5日, 2024/3/5
    r"(?<!\d)(?P<y>(?:19|20)\d{2})\s*(?P<sep>[-/.年])\s*(?P<m>1[0-2]|0?[1-9])\s*[-/.月]\s*"
    r"(?P<d>3[01]|[12]\d|0?[1-9])\s*日?" + _HMS
)
# Forms only trusted right after a label: two-digit years (18-03-08 23:16) and no year (10-08 12:00).
_SHORT_YEAR_RE = re.compile(r"^(?P<y>\d{2})-(?P<m>1[0-2]|0[1-9])-(?P<d>3[01]|[12]\d|0[1-9])" + _HMS_REQUIRED)
_NO_YEAR_RE = re.compile(r"^(?P<m>1[0-2]|0?[1-9])\s*[-/月]\s*(?P<d>3[01]|[12]\d|0?[1-9])\s*日?" + _HMS)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _as_zone(tz: str | tzinfo) -> tzinfo:
    return _zone(tz) if isinstance(tz, str) else tz


def _to_utc(value: datetime, zone: tzinfo) -> datetime | None:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        return None
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _from_epoch(number: float) -> datetime | None:
    if not math.isfinite(number):
        return None
    magnitude = abs(number)
    # 1e11 s is the year 5138 but 1e11 ms is 1973: larger values are milli-, micro- or nanoseconds.
    for divisor in (1.0, 1e3, 1e6, 1e9):
        if magnitude < 1e11 * divisor:
            try:
                return _to_utc(datetime.fromtimestamp(number / divisor, tz=UTC), UTC)
            except (OverflowError, OSError, ValueError):
                return None
    return None


def _clock(match: re.Match[str]) -> time | None:
    hour_s = match.group("H")
    if hour_s is None:
        return time(0, 0)
    hour = int(hour_s)
    minute_s = match.group("M")
    minute = 30 if minute_s == "半" else int(minute_s or 0)
    second = int(match.group("S") or match.group("S2") or 0)
    ampm = (match.group("ampm") or match.group("ampm2") or "").lower()
    if ampm in _PM_WORDS and hour < 12:
        hour += 12
    elif ampm in {"凌晨", "am"} and hour == 12:
        hour = 0
    elif ampm == "中午" and hour < 11:
        hour += 12
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _parse_relative(s: str, now_local: datetime) -> datetime | None:
    if s.lower() in _JUST_NOW:
        return now_local
    match = _REL_RE.match(s) or _REL_EN_RE.match(s)
    if match:
        raw = match.group("n").lower()
        amount = _ZH_NUMBERS.get(raw) or (1.0 if raw in {"a", "an"} else float(raw))
        unit = _REL_UNITS[match.group("u").lower()]
        if unit in {"months", "years"}:
            months = amount * (1 if unit == "months" else 12)
            if months == int(months):
                return now_local - relativedelta(months=int(months))
            return now_local - timedelta(days=round(months * 30.4))
        return now_local - timedelta(**{unit: amount})
    match = _DAY_WORD_RE.match(s)
    if match:
        rest = match.group("rest").strip()
        clock_match = _CLOCK_RE.match(rest) if rest else None
        if rest and clock_match is None:
            return None
        clock = _clock(clock_match) if clock_match else time(0, 0)
        if clock is None:
            return None
        day = now_local.date() - timedelta(days=_DAY_WORDS[match.group("w").lower()])
        return datetime.combine(day, clock, tzinfo=now_local.tzinfo)
    return None


def _parse_chinese(s: str, now_local: datetime) -> datetime | None:
    match = _ZH_DATE_RE.match(s)
    if not match:
        return None
    clock = _clock(match)
    if clock is None:
        return None
    month, day = int(match.group("m")), int(match.group("d"))
    year_s = match.group("y")
    year = int(year_s) if year_s else now_local.year
    try:
        value = datetime.combine(date(year, month, day), clock, tzinfo=now_local.tzinfo)
    except ValueError:
        return None
    if not year_s and value > now_local + timedelta(days=1):
        try:
            value = value.replace(year=year - 1)
        except ValueError:  # 29 February
            return None
    return value


def _parse_digits(s: str, zone: tzinfo) -> datetime | None:
    if len(s) in (10, 13, 16, 19) and s[0] != "0":
        return _from_epoch(float(s))
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if len(s) in formats:
        try:
            return _to_utc(datetime.strptime(s, formats[len(s)]), zone)
        except ValueError:
            return None
    return None


def _parse_string(s: str, zone: tzinfo, now: datetime | None) -> datetime | None:
    s = " ".join(s.translate(_FULLWIDTH_DIGITS).split())
    if not s:
        return None
    if _LABEL_RE.search(s) or "来源" in s:  # a date line of a web page: 发布时间：… / 来源：… 时间：…
        found = find_datetime(s, zone, now)
        if found is not None:
            return found.value
    if s.isdigit():
        return _parse_digits(s, zone)
    if re.fullmatch(r"\d{9,}\.\d+", s):
        return _from_epoch(float(s))
    now_local = (now or datetime.now(UTC)).astimezone(zone)
    parsed = _parse_relative(s, now_local) or _parse_chinese(s, now_local)
    if parsed is not None:
        return _to_utc(parsed, zone)
    if not any(ch.isdigit() for ch in s):
        return None
    try:
        with warnings.catch_warnings():
            # An unknown zone name leaves the value naive: it is then read in the source's zone.
            warnings.simplefilter("ignore", date_parser.UnknownTimezoneWarning)
            value = date_parser.parse(
                s,
                tzinfos=_TZINFOS,
                default=now_local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None),
            )
    except (ValueError, OverflowError, TypeError):
        return None
    return _to_utc(value, zone)


def parse_datetime(
    value: object, tz: str | tzinfo = "Asia/Shanghai", now: datetime | None = None
) -> datetime | None:
    """Read a publication time into an aware UTC datetime.

    Args:
        value: A string, number (epoch), ``datetime``/``date``/pandas ``Timestamp`` or ``datetime64``.
        tz: Zone of the source: naive values and relative forms are read in it.
        now: The reference instant for relative and year-less forms (default: the current time);
            a naive ``now`` is read in ``tz`` too.

    Returns:
        The instant in UTC, or None when the value is empty or cannot be read.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        if value != value:  # NaN, NaT
            return None
    except (TypeError, ValueError):
        pass
    zone = _as_zone(tz)
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=zone)
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[us]").item()
        if not isinstance(value, datetime):
            return None
    if isinstance(value, datetime):
        if type(value) is not datetime:  # pandas Timestamp and other subclasses
            value = datetime.combine(value.date(), value.timetz())
        return _to_utc(value, zone)
    if isinstance(value, date):
        return _to_utc(datetime.combine(value, time(0, 0)), zone)
    if isinstance(value, int | float | np.integer | np.floating):
        return _from_epoch(float(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return _parse_string(value.strip(), zone, now)
    return None


@dataclass(frozen=True)
class FoundDate:
    """A date found in free text: the instant (UTC), whether a clock time was shown, and where."""

    value: datetime
    has_time: bool
    start: int
    end: int


def _found(match: re.Match[str], year: int, zone: tzinfo) -> FoundDate | None:
    hour, minute, second = (int(match.group(k) or 0) for k in ("H", "M", "S"))
    try:
        local = datetime(year, int(match.group("m")), int(match.group("d")), hour, minute, second)
    except ValueError:
        return None
    value = _to_utc(local, zone)
    if value is None:
        return None
    return FoundDate(value, match.group("H") is not None, match.start(), match.end())


def _year_for(month: int, day: int, now_local: datetime) -> int:
    year = now_local.year
    try:
        if datetime(year, month, day, tzinfo=now_local.tzinfo) > now_local + timedelta(days=1):
            return year - 1
    except ValueError:
        pass
    return year


def find_datetime(
    text: str, tz: str | tzinfo = "Asia/Shanghai", now: datetime | None = None, *, labelled_only: bool = False
) -> FoundDate | None:
    """The first publication date in a line of page text, such as a date line under a headline.

    A date after a label (``发布时间：``, ``时间：``, ``日期：``, ``发布于``) wins over an earlier unlabelled
    one (``来源：新华社 2024-03-01 时间：2024-03-05`` reads 2024-03-05). After a label, two-digit
    years (``18-03-08 23:16``) and dates without a year (``10-08 12:00``: the year of ``now`` in the
    zone, or the year before when that is more than a day ahead) are read too; elsewhere only
    full dates (``2024-03-05 10:21``, ``2024年3月5日``, ``2024/3/5``, ``2024.03.05``).

    Returns:
        The date with its span in ``text``, or None.
    """
    zone = _as_zone(tz)
    s = text.translate(_FULLWIDTH_DIGITS)
    now_local = (now or datetime.now(UTC)).astimezone(zone)
    for label in _LABEL_RE.finditer(s):
        rest_at = label.end()
        rest = s[rest_at:].lstrip()
        offset = len(s) - len(rest)
        full = FULL_DATE_RE.match(rest)
        if full:
            found = _found(full, int(full.group("y")), zone)
        elif match := _SHORT_YEAR_RE.match(rest):
            found = _found(match, 2000 + int(match.group("y")), zone)
            full = match
        elif match := _NO_YEAR_RE.match(rest):
            found = _found(match, _year_for(int(match.group("m")), int(match.group("d")), now_local), zone)
            full = match
        else:
            continue
        if found is not None and full is not None:
            return FoundDate(found.value, found.has_time, offset + full.start(), offset + full.end())
    if labelled_only:
        return None
    for match in FULL_DATE_RE.finditer(s):
        found = _found(match, int(match.group("y")), zone)
        if found is not None:
            return found
    return None
