"""Tests for nlp.regions: cpca gazetteer, masked 问政 names, hints, GeoJSON province names."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from nlp import regions
from nlp.regions import MASKED_PROVINCE, Region, tag_region, tag_regions

# The 34 province-level names used by the usual China GeoJSON (e.g. DataV areas_v3 100000_full).
GEOJSON_PROVINCES = {
    "北京市", "天津市", "河北省", "山西省", "内蒙古自治区", "辽宁省", "吉林省", "黑龙江省", "上海市",
    "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省", "河南省", "湖北省", "湖南省", "广东省",
    "广西壮族自治区", "海南省", "重庆市", "四川省", "贵州省", "云南省", "西藏自治区", "陕西省", "甘肃省",
    "青海省", "宁夏回族自治区", "新疆维吾尔自治区", "台湾省", "香港特别行政区", "澳门特别行政区",
}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("广州市天河区体育西路有个大坑", Region("广东省", "广州市", "天河区")),
        ("广西南宁市青秀区路灯不亮", Region("广西壮族自治区", "南宁市", "青秀区")),
        ("北京朝阳区三里屯噪音", Region("北京市", "北京市", "朝阳区")),
        ("重庆市渝中区解放碑", Region("重庆市", "重庆市", "渝中区")),
        ("上海浦东的地铁", Region("上海市", "上海市", None)),
        ("内蒙古包头的雾霾", Region("内蒙古自治区", "包头市", None)),
        ("湖北仙桃的学校", Region("湖北省", None, "仙桃市")),
        ("河南开封的马路", Region("河南省", "开封市", None)),
        ("开封市政府", Region("河南省", "开封市", None)),
    ],
)
def test_real_places(text: str, expected: Region) -> None:
    assert tag_region(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("西地省A市A1区蔡锷南路", Region(MASKED_PROVINCE, "A市", "A1区")),
        ("A市A5区汇金路五矿万境K9县存在一系列问题", Region(MASKED_PROVINCE, "A市", "A5区")),
        ("K9县的道路坑洼", Region(MASKED_PROVINCE, "K市", "K9县")),
        ("反映C4市收取城市垃圾处理费不平等", Region(MASKED_PROVINCE, "C市", "C4市")),
        ("西地省的高速收费", Region(MASKED_PROVINCE, None, None)),
        ("A市的公交太挤", Region(MASKED_PROVINCE, "A市", None)),
    ],
)
def test_masked_places(text: str, expected: Region) -> None:
    assert tag_region(text) == expected


@pytest.mark.parametrize(
    "text", ["我吃了三明治", "祝大家新年安康", "日照时间很长", "东方明珠真好看", "", "今天天气不错"]
)
def test_common_words_are_not_places(text: str) -> None:
    assert tag_region(text) == Region()


def test_hint_fills_missing_levels() -> None:
    assert tag_region("小区停水三天了", "广东省深圳市") == Region("广东省", "深圳市", None)
    assert tag_region("小区停水三天了", "西地省A市") == Region(MASKED_PROVINCE, "A市", None)
    assert tag_region("A3区某小区停水", "西地省A市") == Region(MASKED_PROVINCE, "A市", "A3区")


def test_hint_disambiguates_district_names() -> None:
    assert tag_region("朝阳区堵车") == Region("北京市", "北京市", "朝阳区")
    assert tag_region("朝阳区堵车", "吉林省") == Region("吉林省", "长春市", "朝阳区")


def test_text_naming_another_province_wins_over_hint() -> None:
    assert tag_region("杭州西湖边垃圾多", "广东省") == Region("浙江省", "杭州市", None)
    assert tag_region("广州天河区", "西地省A市") == Region("广东省", "广州市", "天河区")


def test_batch_matches_single_calls_and_checks_lengths() -> None:
    texts = ["广州市天河区", "西地省A市A1区", "没有地名", "北京海淀区"]
    hints = [None, None, "湖南省", None]
    assert tag_regions(texts, hints) == [tag_region(t, h) for t, h in zip(texts, hints, strict=True)]
    assert tag_regions([]) == []
    with pytest.raises(ValueError):
        tag_regions(["a", "b"], ["x"])


def test_province_names_match_geojson() -> None:
    texts = [
        "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江", "安徽",
        "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆", "四川", "贵州",
        "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆", "台湾", "香港", "澳门",
    ]  # fmt: skip
    provinces = {r.province for r in tag_regions([f"{t}的新闻" for t in texts])}
    assert provinces == GEOJSON_PROVINCES


def test_fast_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    texts = ["广州市天河区体育西路有个坑", "西地省A市A1区蔡锷南路", "我家在杭州"] * 2000
    start = time.perf_counter()
    regions = tag_regions(texts)
    elapsed = time.perf_counter() - start
    assert len(regions) == len(texts)
    assert regions[2] == Region("浙江省", "杭州市", None)
    assert elapsed < 5.0, f"{elapsed:.2f}s for {len(texts)} texts"


def test_depth() -> None:
    assert Region().depth == 0
    assert Region("广东省", "广州市", None).depth == 2


@pytest.mark.parametrize(
    "text",
    ["我爱吃芒果", "芒果TV的节目", "我们县的路不好", "县城里的学校", "江山如此多娇", "阳春三月", "喝龙井茶"],
)
def test_one_character_and_bare_county_city_names_are_not_places(text: str) -> None:
    assert tag_region(text) == Region()


def test_those_names_still_count_when_spelt_out_or_with_their_province() -> None:
    assert tag_region("云南芒市的天气") == Region("云南省", "德宏傣族景颇族自治州", "芒市")
    assert tag_region("芒市机场") == Region("云南省", "德宏傣族景颇族自治州", "芒市")
    assert tag_region("浙江江山的路") == Region("浙江省", "衢州市", "江山市")
    assert tag_region("江山市政府") == Region("浙江省", "衢州市", "江山市")
    assert tag_region("重庆的县城") == Region("重庆市", "重庆市", None)


MIXED_TEXTS = [
    "广州市天河区体育西路有个大坑",
    "今天天气不错，心情很好",
    "西地省A市A1区蔡锷南路",
    "ETC市区通行费",  # a Latin word before 市 is no masked city
    "xK9县",
    "K9县的道路坑洼",
    "我家在杭州",
    "朝阳区堵车",
    "我爱吃芒果",
    "",
    "北京",
    "他说：A市\nB2区也停水了",
    "没有地名的一句话" * 30,
    "湖北仙桃的学校",
]


def test_batch_shortcuts_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch pre-checks (gazetteer pairs, one masked-name scan) give what per-text cpca gives."""
    texts = MIXED_TEXTS * 3
    hints = [None, "吉林省", "西地省A市", None, "广东省深圳市", None] * 7
    fast = tag_regions(texts, hints)
    assert fast == [tag_region(t, h) for t, h in zip(texts, hints, strict=True)]
    monkeypatch.setattr(regions, "_gazetteer_candidates", lambda batch: list(range(len(batch))))
    monkeypatch.setattr(regions, "_masked_regions", lambda batch: [regions._masked_region(t) for t in batch])
    assert tag_regions(texts, hints) == fast


def test_gazetteer_precheck_keeps_every_text_cpca_matches(shared_data: Path) -> None:
    import json

    automaton = regions._load_cpca().matcher.ac
    rows = json.loads((shared_data / "smp2020_ewect" / "usual_eval_labeled.txt").read_text(encoding="utf-8"))
    texts = [r["content"] for r in rows[:2000]] + MIXED_TEXTS
    matched = {i for i, t in enumerate(texts) if next(automaton.iter(t), None) is not None}
    candidates = set(regions._gazetteer_candidates(texts))
    assert matched <= candidates
    assert len(candidates) < len(texts) / 2  # and it does skip most posts


def test_tagger_records_the_rules_version() -> None:
    from nlp.pipeline import Tagger

    tagger = Tagger(sentiment=None, emotion=None, category=None, regions=tag_regions)
    assert tagger.model_versions["regions"] == regions.VERSION != "regions-1"
