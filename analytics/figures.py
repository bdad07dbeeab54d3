"""Figures in Chinese text: every number a sentence states, with its unit and its rounding (pure).

:func:`extract_figures` finds Arabic and Chinese numerals (``1,234``、``3.5``、``十二``、``两``),
scaled by 万 / 千 / 亿, with their unit: 条 / 件 … (count), ``%`` / 百分之 (pct), 个百分点 (pp),
倍 (times), 小时 (hours), 天 (days), 分 (score), 第 N 位 / 前 N (rank), dates (``2026-11-22``、
``11月22日``) and ISO weeks (``2026-W47``). Each :class:`Figure` carries the tolerance its
written precision allows (``35%`` covers 34.5–35.5; ``1.2万`` covers 11,500–12,500), so a figure
can be matched against a computed value "within its rounding". Citation markers (``[F3]``,
``[D4711]``) and list markers at a line start are not figures; the hotline number 12345 is not one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_BIG = {"万": 10_000, "亿": 100_000_000}
SCALES = {"万": 10_000.0, "千": 1000.0, "亿": 100_000_000.0}
COUNT_UNITS = "人次|条|件|起|次|人|个|项|家|户|篇|例|位|名"
UNIT_KIND = {
    "%": "pct",
    "％": "pct",
    "个百分点": "pp",
    "百分点": "pp",
    "倍": "times",
    "小时": "hours",
    "天": "days",
    "分": "score",
}
CITATION = re.compile(r"[\[【]\s*(?:[FD]\d+\s*[,，、]?\s*)+[\]】]")
LIST_MARKER = re.compile(
    r"^\s*(?:\d{1,2}(?:[.．](?!\d)|[、)）])|[（(]\d{1,2}[)）]|[一二三四五六七八九十]{1,3}[、．.]|[-*•#]+)\s*"
)
# The hotline's name, and scale notes such as 热度（0–100） or 0–1 that are part of a label.
NOT_FIGURES = re.compile(r"(?<!\d)12345(?!\d)|[（(]\s*0\s*[–~-]\s*1(?:00)?\s*[)）]")
CN_NUM = r"[零〇一二两三四五六七八九十百千万亿](?:[零〇一二两三四五六七八九十百千万亿]|点[零〇一二三四五六七八九]+)*"
AR_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
DATE = re.compile(
    r"(?P<iso>(?P<y1>\d{4})-(?P<m1>\d{1,2})-(?P<d1>\d{1,2}))"
    r"|(?P<week>(?P<wy>\d{4})-W(?P<wn>\d{1,2}))"
    rf"|(?P<cn>(?:(?P<y2>\d{{4}}|[零〇一二三四五六七八九]{{4}})年)?(?P<m2>\d{{1,2}}|{CN_NUM})月(?P<d2>\d{{1,2}}|{CN_NUM})[日号])"
    r"|(?P<year>(?P<y3>\d{4})年)"
)
NUMBER = re.compile(
    rf"(?P<rankpre>第|前|排名第)?\s*(?P<pctpre>百分之)?(?P<num>{AR_NUM}|{CN_NUM})\s*(?P<scale>万|千|亿)?\s*"
    rf"(?P<unit>个百分点|百分点|%|％|倍|小时|天|分(?!之|类|布|别|析|项|期|钟)|{COUNT_UNITS})?"
)


@dataclass(frozen=True)
class Figure:
    """One stated number.

    Attributes:
        value: the number (万 / 千 applied; a date as ``YYYYMMDD`` or ``MMDD`` when the year is absent).
        unit: ``count`` ``pct`` ``pp`` ``times`` ``hours`` ``days`` ``score`` ``rank`` ``date`` ``week``
            ``year`` or ``plain`` (no unit written).
        tolerance: half a unit of the last written digit, scaled.
        text: the figure as written.
    """

    value: float
    unit: str
    tolerance: float
    text: str


def parse_chinese_number(text: str) -> float:
    """``十二`` -> 12, ``两千三百`` -> 2300, ``三点五`` -> 3.5, ``一二三`` -> 123 (digit by digit)."""
    whole, _, frac = text.partition("点")
    if whole and all(c in CN_DIGITS for c in whole) and len(whole) > 1:
        value = float("".join(str(CN_DIGITS[c]) for c in whole))
    else:
        total, section, digit = 0, 0, 0
        for ch in whole:
            if ch in CN_DIGITS:
                digit = CN_DIGITS[ch]
            elif ch in CN_UNITS:
                section += (digit or 1) * CN_UNITS[ch]
                digit = 0
            elif ch in CN_BIG:
                total += (section + digit) * CN_BIG[ch]
                section, digit = 0, 0
            else:
                raise ValueError(f"not a Chinese numeral: {text!r}")
        value = float(total + section + digit)
    if frac:
        value += float("0." + "".join(str(CN_DIGITS[c]) for c in frac))
    return value


def _prose_numeral(raw: str, rank: bool, pct: bool, scale: str, unit: str) -> bool:
    """True for Chinese numerals that are words, not figures: 一些、统一、一个方面、一起、十分、千万."""
    if raw in ("万", "千", "亿", "百", "十") or unit in ("个", "次", "分"):
        return True
    if not (rank or pct or scale or unit):
        return True
    return not rank and unit in COUNT_UNITS.split("|") and raw == "一"


def _number(text: str) -> tuple[float, int]:
    """(value, decimals written) of an Arabic or Chinese numeral."""
    if text[0].isdigit():
        plain = text.replace(",", "")
        return float(plain), len(plain.partition(".")[2])
    return parse_chinese_number(text), len(text.partition("点")[2])


def _date_part(text: str | None) -> int:
    if not text:
        return 0
    return int(text) if text.isdigit() else int(parse_chinese_number(text))


def _dates(text: str) -> tuple[list[Figure], str]:
    found = []
    for m in DATE.finditer(text):
        if m["iso"]:
            value = int(m["y1"]) * 10_000 + int(m["m1"]) * 100 + int(m["d1"])
            found.append(Figure(float(value), "date", 0.0, m[0]))
        elif m["week"]:
            found.append(Figure(float(int(m["wy"]) * 100 + int(m["wn"])), "week", 0.0, m[0]))
        elif m["cn"]:
            year = m["y2"]
            y = (
                (int(year) if year.isdigit() else int("".join(str(CN_DIGITS[c]) for c in year)))
                if year
                else 0
            )
            value = y * 10_000 + _date_part(m["m2"]) * 100 + _date_part(m["d2"])
            found.append(Figure(float(value), "date", 0.0, m[0]))
        else:
            found.append(Figure(float(m["y3"]), "year", 0.0, m[0]))
    return found, DATE.sub(" ", text)


def strip_citations(text: str) -> str:
    """The text without ``[F3]`` / ``[D4711, F2]`` markers."""
    return CITATION.sub(" ", text)


def extract_figures(text: str) -> list[Figure]:
    """Every figure stated in ``text`` (citations, list markers and 12345 excluded), in order of kind."""
    body = NOT_FIGURES.sub(" ", LIST_MARKER.sub("", strip_citations(text)))
    figures, body = _dates(body)
    for m in NUMBER.finditer(body):
        raw, unit_text, scale = m["num"], m["unit"] or "", m["scale"] or ""
        is_cn = not raw[0].isdigit()
        rank = bool(m["rankpre"])
        if m["rankpre"] == "前" and unit_text not in ("位", "名", "个", "项"):
            rank = False  # 前一日、前两周: not a rank
            if is_cn:
                continue
        if is_cn and _prose_numeral(raw, rank, bool(m["pctpre"]), scale, unit_text):
            continue
        if rank and unit_text == "" and body[m.end() : m.end() + 2] == "时间":
            continue  # 第一时间
        try:
            value, decimals = _number(raw)
        except ValueError:
            continue
        factor = SCALES.get(scale, 1.0)
        if rank:
            unit = "rank"
        elif m["pctpre"]:
            unit = "pct"
        elif unit_text in UNIT_KIND:
            unit = UNIT_KIND[unit_text]
        elif unit_text:
            unit = "count"
        else:
            unit = "plain"
        tolerance = 0.0 if unit == "rank" else 0.5 * 10.0**-decimals * factor
        figures.append(Figure(value * factor, unit, tolerance, m[0].strip()))
    return figures
