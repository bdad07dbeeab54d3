"""Text cleaning: HTML stripping, width and whitespace normalisation, content hashes, channel hints.

Everything here is a pure function of its arguments. :func:`normalize_text` is applied to every
fetched title, body and reply before masking (:mod:`ingest.pii`) and de-duplication
(:mod:`ingest.dedup`), so both see one canonical form.
"""

from __future__ import annotations

import functools
import hashlib
import html
import logging
import re
import unicodedata
from collections.abc import Iterable
from html.parser import HTMLParser
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

# Full-width forms that are *not* Chinese punctuation are folded to ASCII (letters, digits and
# symbols such as ＠ ＃ ％ ＋ － ／ ＝ ．); the full-width punctuation that Chinese prose uses
# (，！？：；（） etc.) is kept as written.
_KEEP_FULLWIDTH = set("，！？：；（）［］｛｝＂＇｀～＜＞")
_WIDTH_TABLE: dict[int, str] = {
    cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F) if chr(cp) not in _KEEP_FULLWIDTH
}
_WIDTH_TABLE.update({0x3000: " ", 0x00A0: " ", 0x2002: " ", 0x2003: " ", 0x2009: " ", 0x202F: " "})
# Zero-width characters and the BOM carry no text; U+200D (ZWJ) is kept because emoji sequences
# such as family or profession emoji need it.
_WIDTH_TABLE.update(dict.fromkeys((0x200B, 0x200C, 0x2060, 0xFEFF), ""))

# Only known tag names count as markup, so "a<b且c>d" in plain text is left alone.
_TAG_RE = re.compile(
    r"<(?:!--|/?(?:a|abbr|article|aside|b|blockquote|body|br|center|code|dd|div|dl|dt|em|figcaption|figure|"
    r"font|footer|h[1-6]|head|header|hr|html|i|iframe|img|li|link|main|meta|nav|noscript|ol|p|pre|s|script|"
    r"section|small|source|span|strong|style|sub|sup|table|tbody|td|template|tfoot|th|thead|title|tr|u|ul|"
    r"video)\b[^<>]*>)",
    re.IGNORECASE,
)
# fmt: off
_BLOCK_TAGS = frozenset(
    [
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
        "p", "pre", "section", "table", "td", "th", "tr", "ul",
    ]
)
# fmt: on
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head"})
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# What normalize_whitespace would change, apart from line edges (checked separately): control
# characters, CR, the Unicode line/paragraph separators, tabs and the like, and double spaces.
_WS_ODD_RE = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f\u2028\u2029\r]| {2}")
_LINE_EDGE_RE = re.compile(r"\s\n|\n\s")
_SPACES_RE = re.compile(r"[ \t\f\v\r]+")
_BLANKS_RE = re.compile(r"\n{2,}")


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment; block elements become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img":
            # Weibo renders emoji as <img alt="[哈哈]">: keep the alt text, which carries sentiment.
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def strip_html(s: str) -> str:
    """Return the text of an HTML fragment, entities unescaped; plain text is only unescaped."""
    if not _TAG_RE.search(s):
        return html.unescape(s) if "&" in s else s
    parser = _TextExtractor()
    parser.feed(s)
    parser.close()
    return "".join(parser.parts)


def _char_class(codepoints: Iterable[int]) -> re.Pattern[str]:
    """A compiled ``[...]`` class of the given code points, as ranges (re matches it in C)."""
    ranges: list[list[int]] = []
    for cp in sorted(codepoints):
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges)
    return re.compile(f"[{body}]")


_WIDTH_RE = _char_class(_WIDTH_TABLE)
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")


def normalize_width(s: str) -> str:
    """Fold full-width ASCII letters, digits and symbols to half width; keep Chinese punctuation."""
    if _WIDTH_RE.search(s) is not None:  # str.translate with a dict is slow on non-ASCII text
        s = s.translate(_WIDTH_TABLE)
    return unicodedata.normalize("NFC", s)


def normalize_whitespace(s: str) -> str:
    """Collapse runs of spaces/tabs, strip every line and keep at most one line break in a row."""
    if (
        _WS_ODD_RE.search(s) is None
        and not s[:1].isspace()
        and not s[-1:].isspace()
        and ("\n" not in s or _LINE_EDGE_RE.search(s) is None)
    ):
        return s  # already normal (most texts once normalised): skip the line-by-line rebuild
    return _rebuild_whitespace(s)


def _rebuild_whitespace(s: str) -> str:
    s = _CONTROL_RE.sub("", s.replace("\r\n", "\n").replace("\u2028", "\n").replace("\u2029", "\n"))
    lines = (_SPACES_RE.sub(" ", line).strip() for line in s.split("\n"))
    return _BLANKS_RE.sub("\n", "\n".join(lines)).strip("\n")


@functools.lru_cache(maxsize=4096)
def normalize_text(s: str | None) -> str:
    """Return the canonical form of a fetched text.

    HTML is stripped and unescaped, full-width ASCII forms become half width (Chinese punctuation
    and emoji are kept), zero-width characters are dropped and whitespace is collapsed: the
    ``"\\n\\t\\t\\t\\t"`` padding of scraped bodies disappears, paragraph breaks stay as one ``"\\n"``.
    Ingest normalises a batch's texts again when it hashes and de-duplicates them, so the last
    few thousand results are cached.
    """
    if not s:
        return ""
    return normalize_whitespace(normalize_width(strip_html(s)))


def fingerprint_text(s: str | None) -> str:
    """The form that :func:`content_hash` hashes: normalised, case-folded, no spaces or punctuation."""
    text = _drop_re().sub("", normalize_text(s).casefold())
    if _ASTRAL_RE.search(text) is not None:  # rare: astral punctuation or format characters
        text = "".join(ch for ch in text if ord(ch) <= 0xFFFF or unicodedata.category(ch)[0] not in "PZC")
    return text


@functools.cache
def _drop_re() -> re.Pattern[str]:
    """The BMP's punctuation, separators and control/format characters, as one character class."""
    return _char_class(cp for cp in range(0x10000) if unicodedata.category(chr(cp))[0] in "PZC")


def content_hash(s: str | None) -> str:
    """A stable 40-hex SHA-1 of :func:`fingerprint_text`; copies differing only in markup,
    width, spacing, case or punctuation get the same hash."""
    return hashlib.sha1(fingerprint_text(s).encode("utf-8")).hexdigest()


# Host suffixes per channel; the first matching rule wins, so hotline hosts come before gov ones.
_HOST_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hotline", ("liuyan.people.com.cn", "wz.sun0769.com", "12345.gov.cn", "wenzheng.gov.cn")),
    (
        "social",
        (
            "weibo.com",
            "weibo.cn",
            "t.cn",
            "douyin.com",
            "iesdouyin.com",
            "kuaishou.com",
            "bilibili.com",
            "b23.tv",
            "zhihu.com",
            "tieba.baidu.com",
            "xiaohongshu.com",
            "xhslink.com",
            "douban.com",
            "mp.weixin.qq.com",
            "weixin.qq.com",
            "twitter.com",
            "x.com",
            "facebook.com",
            "tiktok.com",
            "youtube.com",
            "reddit.com",
        ),
    ),
    ("gov", ("gov.cn", "gov", "gov.hk", "gov.mo", "gov.tw")),
    (
        "news",
        (
            "xinhuanet.com",
            "news.cn",
            "people.com.cn",
            "chinanews.com",
            "chinanews.com.cn",
            "thepaper.cn",
            "cctv.com",
            "cctv.cn",
            "cnr.cn",
            "china.com.cn",
            "chinadaily.com.cn",
            "gmw.cn",
            "ce.cn",
            "youth.cn",
            "cri.cn",
            "huanqiu.com",
            "ifeng.com",
            "sina.com.cn",
            "sohu.com",
            "163.com",
            "qq.com",
            "caixin.com",
            "bjnews.com.cn",
            "yicai.com",
            "jiemian.com",
            "guancha.cn",
            "toutiao.com",
            "cls.cn",
            "21jingji.com",
            "nbd.com.cn",
            "stcn.com",
            "infzm.com",
            "southcn.com",
            "dahe.cn",
            "rednet.cn",
            "hunantoday.cn",
        ),
    ),
)
_HOTLINE_PATH_RE = re.compile(r"12345|wenzheng|wzlt|liuyan|xinfang|hotline|rexian", re.IGNORECASE)
_NEWS_HOST_RE = re.compile(r"^(?:news|rss|feed|feeds|paper|epaper)\.|news", re.IGNORECASE)
_HINT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("hotline", re.compile(r"12345|问政|热线|留言|信箱|信访|市长|书记|投诉|hotline|wenzheng", re.IGNORECASE)),
    (
        "social",
        re.compile(r"微博|weibo|抖音|douyin|快手|小红书|知乎|贴吧|b站|bilibili|微信|公众号|social", re.I),
    ),
    ("gov", re.compile(r"政府|政务|人民政府|\bgov\b|委员会|管理局|发布$", re.IGNORECASE)),
    ("news", re.compile(r"新闻|日报|晚报|早报|晨报|都市报|电视台|通讯社|新华|news|rss|feed", re.IGNORECASE)),
)


def _host_matches(host: str, suffix: str) -> bool:
    return host == suffix or host.endswith("." + suffix)


def detect_channel(url: str | None = None, hints: str | Iterable[str] | None = None) -> str | None:
    """Guess the channel (``social``, ``news``, ``hotline`` or ``gov``) of an item.

    Args:
        url: The item's or the feed's URL; its host decides when it is a known one.
        hints: Source names, kinds or site titles (e.g. ``"XX市12345热线"``) consulted after the URL.

    Returns:
        One of :data:`ingest.base.CHANNELS`, or None when nothing is recognised.
    """
    if url:
        parts = urlsplit(url if "//" in url else "//" + url)
        host = (parts.hostname or "").lower().rstrip(".")
        if host:
            if _HOTLINE_PATH_RE.search(host) or (
                _host_matches(host, "gov.cn") and _HOTLINE_PATH_RE.search(parts.path)
            ):
                return "hotline"
            for channel, suffixes in _HOST_RULES:
                if any(_host_matches(host, suffix) for suffix in suffixes):
                    return channel
            if _NEWS_HOST_RE.search(host):
                return "news"
    if hints:
        texts = [hints] if isinstance(hints, str) else [h for h in hints if h]
        for channel, pattern in _HINT_RULES:
            if any(pattern.search(text) for text in texts):
                return channel
    return None


_PROVINCES: tuple[str, ...] = (
    "北京市",
    "天津市",
    "上海市",
    "重庆市",
    "河北省",
    "山西省",
    "辽宁省",
    "吉林省",
    "黑龙江省",
    "江苏省",
    "浙江省",
    "安徽省",
    "福建省",
    "江西省",
    "山东省",
    "河南省",
    "湖北省",
    "湖南省",
    "广东省",
    "海南省",
    "四川省",
    "贵州省",
    "云南省",
    "陕西省",
    "甘肃省",
    "青海省",
    "台湾省",
    "内蒙古自治区",
    "广西壮族自治区",
    "西藏自治区",
    "宁夏回族自治区",
    "新疆维吾尔自治区",
    "香港特别行政区",
    "澳门特别行政区",
)


def _short_name(full: str) -> str:
    for suffix in ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市"):
        if full.endswith(suffix):
            return full[: -len(suffix)]
    return full


_SHORT_TO_FULL = {_short_name(p): p for p in _PROVINCES}
_REGION_RE = re.compile("|".join(sorted(_SHORT_TO_FULL, key=len, reverse=True)))
# The TIPDM 问政 corpus masks place names as "A市", "B2县", "A3区"; keep the city-level mask.
_MASKED_CITY_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z][0-9]{0,2}市")


def extract_region_hint(text: str | None) -> str | None:
    """Return the first province-level name in ``text`` (full form), or a masked city like ``A市``.

    A cheap hint only; :mod:`nlp.regions` does real place tagging.
    """
    if not text:
        return None
    match = _REGION_RE.search(text)
    if match:
        return _SHORT_TO_FULL[match.group(0)]
    masked = _MASKED_CITY_RE.search(text)
    return masked.group(0) if masked else None
