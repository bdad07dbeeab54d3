"""Tests of ingest.clean: normalisation, content hashes, channel and region hints."""

from __future__ import annotations

import hashlib

import pytest

from ingest.base import CHANNELS
from ingest.clean import (
    content_hash,
    detect_channel,
    extract_region_hint,
    fingerprint_text,
    normalize_text,
    strip_html,
)

TIPDM_BODY = "\n\t\t\t\t\t\n\t\t\t\t\t座落在A市A3区联丰路，一家影楼！\n\t\t\t\t\t\n\t\t\t\t\t\n\t\t\t\t"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (TIPDM_BODY, "座落在A市A3区联丰路，一家影楼！"),
        ("第一段\n\t\t\t\t\n\t\t\t\t第二段", "第一段\n第二段"),
        ("<p>你好&amp;再见<br/>第二行</p>", "你好&再见\n第二行"),
        ("<div>正文<script>alert(1)</script><style>p{}</style></div>", "正文"),
        ('赞<img src="x.png" alt="[哈哈]">', "赞[哈哈]"),
        ("价格 &yen;100 &lt;不是标签&gt;", "价格 ¥100 <不是标签>"),
        ("ＡＢＣ１２３＠ｑｑ．ｃｏｍ", "ABC123@qq.com"),
        ("你好，世界！真的吗？（是的）：；", "你好，世界！真的吗？（是的）：；"),
        ("\u3000\u3000缩进的段落\u00a0结束", "缩进的段落 结束"),
        ("零\u200b宽\ufeff字符", "零宽字符"),
        ("表情😀和👨\u200d👩\u200d👧保留", "表情😀和👨\u200d👩\u200d👧保留"),
        ("a   b\t\tc", "a b c"),
        ("1<2 且 3>2", "1<2 且 3>2"),
        ("如果a<b且c>d", "如果a<b且c>d"),
        ("<P>大写<BR>标签</P>", "大写\n标签"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_text(raw: str | None, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize("raw", [TIPDM_BODY, "<b>粗体</b> ＡＢ &amp; 😀", "多个\n\n\n空行\t\t和 空格 "])
def test_normalize_text_is_idempotent(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once


def test_strip_html_leaves_plain_text_alone() -> None:
    assert strip_html("没有标签的文字") == "没有标签的文字"


def test_content_hash_ignores_markup_width_space_and_punctuation() -> None:
    variants = ["你好，世界！", "<b>你好 世界</b>", "你好,世界!", "  你好\n世界 ", "你好世界"]
    assert len({content_hash(v) for v in variants}) == 1
    assert content_hash("你好世界") == hashlib.sha1("你好世界".encode()).hexdigest()
    assert content_hash("Hello World") == content_hash("hello, world")
    assert content_hash("你好世界") != content_hash("你好中国")
    assert fingerprint_text("A市 A3区，停水！") == "a市a3区停水"


@pytest.mark.parametrize(
    ("url", "hints", "expected"),
    [
        ("https://weibo.com/1234567890/AbCdEf", None, "social"),
        ("https://m.weibo.cn/status/123", None, "social"),
        ("https://mp.weixin.qq.com/s/abc", None, "social"),
        ("http://www.gov.cn/xinwen/2024-05/01/content.htm", None, "gov"),
        ("https://www.changsha.gov.cn/zfxxgk/", None, "gov"),
        ("https://www.hunan.gov.cn/12345/list.html", None, "hotline"),
        ("https://wz.sun0769.com/political/index", None, "hotline"),
        ("http://liuyan.people.com.cn/threads/list", None, "hotline"),
        ("https://www.thepaper.cn/newsDetail_forward_1", None, "news"),
        ("https://news.sina.com.cn/c/2024-05-01/doc.shtml", None, "news"),
        ("http://www.xinhuanet.com/politics/x.htm", None, "news"),
        ("example.org/feed", None, None),
        (None, "长沙市12345政务服务便民热线", "hotline"),
        (None, ["", "市长信箱"], "hotline"),
        (None, "某某日报 RSS", "news"),
        (None, "微博热搜", "social"),
        ("http://example.org/", "区人民政府门户", "gov"),
        (None, None, None),
    ],
)
def test_detect_channel(url: str | None, hints: str | list[str] | None, expected: str | None) -> None:
    got = detect_channel(url, hints)
    assert got == expected
    assert got is None or got in CHANNELS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("湖南省长沙市岳麓区停水", "湖南省"),
        ("我在广西南宁", "广西壮族自治区"),
        ("北京今天下雨", "北京市"),
        ("内蒙古呼和浩特", "内蒙古自治区"),
        ("A市A3区联丰路", "A市"),
        ("B2市的问题", "B2市"),
        ("小区门口的超市", None),
        ("", None),
    ],
)
def test_extract_region_hint(text: str, expected: str | None) -> None:
    assert extract_region_hint(text) == expected


def _random_texts(n: int, seed: int) -> list[str]:
    """Short strings over an alphabet rich in what the fast paths must notice."""
    import random

    rng = random.Random(seed)
    alphabet = list("ab中文，。！ ") + [
        "  ",
        "\n",
        "\n\n",
        "\t",
        "\r",
        "\r\n",
        "\x00",
        "\x0b",
        "\x1f",
        "\x7f",
    ]
    alphabet += [
        "\u2028",
        "\u2029",
        "\u3000",
        "\u00a0",
        "\u2002",
        "\u200b",
        "\ufeff",
        "\u1680",
        "\x85",
        "\u205f",
    ]
    alphabet += ["Ａ", "１", "＠", "，", "e\u0301", "😀", "\U0001f3fb", "\U000e0001", "\U0001d15e"]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(n)]


def test_fast_paths_agree_with_the_full_rebuild() -> None:
    """The shortcuts for already-normal text change nothing: same output as the full work."""
    import unicodedata

    from ingest.clean import _WIDTH_TABLE, _rebuild_whitespace, normalize_whitespace, normalize_width

    drop = {cp: None for cp in range(0x10000) if unicodedata.category(chr(cp))[0] in "PZC"}
    fast_taken = 0
    for text in _random_texts(20_000, seed=1):
        assert normalize_whitespace(text) == _rebuild_whitespace(text), repr(text)
        fast_taken += normalize_whitespace(text) is text
        assert normalize_width(text) == unicodedata.normalize("NFC", text.translate(_WIDTH_TABLE)), repr(text)
        expected = normalize_text(text).casefold().translate(drop)
        expected = "".join(c for c in expected if ord(c) <= 0xFFFF or unicodedata.category(c)[0] not in "PZC")
        assert fingerprint_text(text) == expected, repr(text)
    assert 1_000 < fast_taken < 19_000  # both paths are exercised
