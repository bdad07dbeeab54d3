"""Article extraction: clean main text, title, publication time, author and attachments of a page.

The body comes from trafilatura (balanced settings, no comments, tables kept) run on a copy of
the page from which page furniture has been pruned first: elements whose class or id names a
related / recommended / hot list, comments, share bars, navigation, footers or ads, and link
lists (blocks whose text is mostly links). Title, time and author come from :mod:`ingest.web.meta`.
Per-site CSS overrides (``title``, ``published``, ``body``) replace a rule where it is wrong.

Attachments (PDF, Office, archive links) are listed with the article, never downloaded.
This is the one extraction used by the ``web`` collector and ``sensing extract``.
"""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml import html as lxml_html
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.web import meta

log = logging.getLogger(__name__)

ATTACHMENT_EXTENSIONS = frozenset(
    {"pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "wps", "et", "ofd", "zip", "rar", "7z", "txt", "csv"}
)
# Class / id words of page furniture; matched as whole words of the attribute (kebab/snake parts).
_FURNITURE = (
    "related|relate|relative|recommend|recommendation|tuijian|xgxw|xgwz|xiangguan|hot|hotnews|rank|ranking"
    "|comment|comments|reply|share|sharebar|bdshare|social|nav|navbar|menu|breadcrumb|crumb|footer"
    "|sidebar|aside|ad|ads|advert|adv|banner|copyright|login|subscribe|qrcode|erweima|tag|tags"
    "|pagination|pager|toolbar|disclaimer|statement|dialog|popup|modal|mask|toast"
    "|remen|redian|paihang|rdph|guanggao|xgyd|xgtj|pinglun|fenxiang|mianze"
)
_FURNITURE_RE = re.compile(rf"(?:^|[\s_-])(?:{_FURNITURE})(?:$|[\s_\d-])", re.I)
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# Lines of a body that are promotions (follow us, scan the QR code, get the app) wherever they are.
# A notice telling citizens to scan a code to register is body text: only follow / download calls count.
_PROMO_LINE = re.compile(
    r"(?:扫描|扫一扫|扫码|长按).{0,12}(?:关注|下载|订阅|识别)|关注.{0,10}(?:公众号|官方微信|官方微博)"
    r"|下载地址|【点击|点击下载|点击投票|客户端第一时间|下载.{0,6}客户端|^(?:微信)?扫一扫$"
)
# Lines that end an article: what follows them is furniture (editor, disclaimers, related lists).
_END_LINE = re.compile(
    r"^[\[【（(]?\s*(?:责任编辑|编辑\s*[:：]|免责声明|声明\s*[:：]|违法和不良信息|热门推荐|相关阅读|相关新闻|相关文章|相关报道"
    r"|延伸阅读|推荐阅读|猜你喜欢|点击进入专题|版权所有|copyright|©|\(c\)\s)",
    re.I,
)
_PROMO_MAX = 150
_PRUNE_TAGS = ("nav", "footer", "aside", "form", "button", "select", "textarea", "iframe")
_LINK_DENSITY = 0.5
_INLINE_TAGS = ("span", "strong", "b", "em", "i", "font", "u", "small", "sup", "sub", "code", "mark", "ins")
_BLOCK_INSIDE = ".//p|.//div|.//section|.//li|.//ul|.//ol|.//table|.//br|.//img|.//h1|.//h2|.//h3"
_PROSE_PARENTS = ("p", "section", "div", "td", "blockquote")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SHORT_BODY = 300
_RECOVER_FACTOR = 3
_LINK_LIST_OWN_TEXT = 200


class Overrides(BaseModel):
    """Per-site CSS selectors used instead of the automatic rules."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, description="CSS selector of the headline")
    published: str | None = Field(default=None, description="CSS selector of the element holding the date")
    body: str | None = Field(default=None, description="CSS selector of the article body")

    @field_validator("title", "published", "body")
    @classmethod
    def _css(cls, v: str | None) -> str | None:
        from ingest.web.links import check_selector

        return check_selector(v)


@dataclass
class Attachment:
    """A linked file (not downloaded)."""

    url: str
    name: str


@dataclass
class Article:
    """What one article page says."""

    title: str | None
    published: datetime | None  # aware, UTC
    author: str | None
    text: str
    attachments: list[Attachment] = field(default_factory=list)

    def as_json(self, tz: str = "Asia/Shanghai") -> dict[str, Any]:
        """The ``sensing extract --json`` object: ``published`` in ISO 8601 in the source zone."""
        from zoneinfo import ZoneInfo

        published = self.published.astimezone(ZoneInfo(tz)).isoformat() if self.published else None
        return {
            "title": self.title,
            "published": published,
            "author": self.author,
            "text": self.text,
            "attachments": [{"url": a.url, "title": a.name} for a in self.attachments],
        }


def parse_html(html: str) -> lxml_html.HtmlElement:
    """An lxml tree of ``html`` (an XML encoding declaration is dropped: lxml refuses it in str input)."""
    html = re.sub(r"^\s*<\?xml[^>]*\?>", "", html, count=1)
    return lxml_html.document_fromstring(html or "<html></html>")


def _is_furniture(element: lxml_html.HtmlElement) -> bool:
    if element.tag in ("body", "html", "article", "main"):
        return False
    words = f"{element.get('class') or ''} {element.get('id') or ''}".strip()
    return bool(words) and bool(_FURNITURE_RE.search(words))


def _is_file_link(anchor: lxml_html.HtmlElement) -> bool:
    last = urlsplit((anchor.get("href") or "").strip()).path.rsplit("/", 1)[-1].lower()
    return "." in last and last.rsplit(".", 1)[-1] in ATTACHMENT_EXTENSIONS


def _link_heavy(element: lxml_html.HtmlElement) -> bool:
    """A block that is mostly links to pages (a related list), not a paragraph with keyword links."""
    if element.tag not in ("ul", "ol", "dl", "div", "table", "section"):
        return False
    text = meta.squash(element.text_content())
    if len(text) < 8:
        return False
    pages = [a for a in element.iter("a") if not _is_file_link(a)]  # attachments are content
    texts = [meta.squash(a.text_content()) for a in pages]
    linked = sum(len(t) for t in texts)
    own = len(text) - linked  # a long article with many links in or around it is no link list
    sentences = text.count("。") - sum(t.count("。") for t in texts)  # prose of its own: keyword links
    return (
        linked / len(text) > _LINK_DENSITY and own < _LINK_LIST_OWN_TEXT and len(pages) >= 2 and not sentences
    )


def prune_furniture(tree: lxml_html.HtmlElement, keep: lxml_html.HtmlElement | None = None) -> int:
    """Drop page furniture from ``tree`` in place (never ``keep`` or its ancestors); returns the count."""
    protected = set() if keep is None else {keep, *keep.iterancestors()}
    doomed = []
    for element in tree.iter():
        if not isinstance(element.tag, str) or element in protected:
            continue
        hidden = _HIDDEN_STYLE.search(element.get("style") or "") or element.get("hidden") is not None
        if element.tag in _PRUNE_TAGS or hidden or _is_furniture(element) or _link_heavy(element):
            doomed.append(element)
    dropped = 0
    for element in doomed:
        if element.getparent() is not None and not any(a in doomed for a in element.iterancestors()):
            element.drop_tree()
            dropped += 1
    return dropped


def _has_prose(element: lxml_html.HtmlElement) -> bool:
    """Whether ``element`` has Chinese text of its own, between or around its children."""
    own = (element.text or "") + "".join(child.tail or "" for child in element)
    return bool(_CJK.search(own))


def unwrap_inline(tree: lxml_html.HtmlElement) -> None:
    """Replace inline markup by its text, so a sentence split over ``<span>``s or keyword links
    comes out as one line (the extractor would put each inline element on a line of its own)."""
    for element in list(tree.iter(*_INLINE_TAGS)):
        if element.getparent() is not None and not element.xpath(_BLOCK_INSIDE):
            element.drop_tag()
    for anchor in list(tree.iter("a")):
        parent = anchor.getparent()
        if (
            parent is not None
            and parent.tag in _PROSE_PARENTS
            and _has_prose(parent)
            and not _is_file_link(anchor)
        ):
            anchor.drop_tag()


def find_attachments(tree: lxml_html.HtmlElement, url: str | None) -> list[Attachment]:
    """Links to files (``.pdf``, ``.docx``, ``.xls`` ...) with their link text."""
    out: dict[str, Attachment] = {}
    for link in tree.iter("a"):
        href = (link.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        if _is_file_link(link):
            path = urlsplit(href).path
            absolute = urljoin(url, href) if url else href
            out.setdefault(absolute, Attachment(absolute, meta.squash(link.text_content()) or path))
    return list(out.values())


def _body_text(tree: lxml_html.HtmlElement, url: str | None, selector: str | None) -> str:
    import trafilatura

    if selector:
        found = tree.cssselect(selector)
        if found:
            return "\n".join(t for t in (_block_text(e) for e in found) if t)
    text = trafilatura.extract(
        tree,
        url=url,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
        with_metadata=False,
    )
    return (text or "").strip()


def clean_body(text: str, title: str | None = None) -> str:
    """Drop the repeated headline, promotion lines, and what follows an end line in the second half."""
    lines = [meta.squash(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    while lines and title and meta.squash(title) == lines[0]:
        lines.pop(0)
    total = sum(len(line) for line in lines) or 1
    kept: list[str] = []
    done = 0
    for line in lines:
        if _END_LINE.match(line):
            if done / total >= 0.5:
                break
            done += len(line)
            continue
        done += len(line)
        if len(line) <= _PROMO_MAX and _PROMO_LINE.search(line):
            continue
        kept.append(line)
    return "\n".join(kept)


def _block_text(element: lxml_html.HtmlElement) -> str:
    lines = []
    for block in element.iter("p", "div", "li", "h2", "h3", "h4", "td", "br"):
        block.tail = "\n" + (block.tail or "") if block.tag == "br" else block.tail
    for line in element.text_content().splitlines():
        squashed = meta.squash(line)
        if squashed:
            lines.append(squashed)
    return "\n".join(lines)


def extract_article(
    html: str,
    *,
    url: str | None = None,
    tz: str = "Asia/Shanghai",
    overrides: Overrides | None = None,
    now: datetime | None = None,
) -> Article:
    """Extract one article page (decoded ``html``) the way the ``web`` collector does.

    ``now`` is the fetch time, for a date line that shows only a relative time (``3小时前``).
    """
    overrides = overrides or Overrides()
    tree = parse_html(html)
    headline = meta.find_headline(tree, overrides.title)
    line = meta.date_line(tree, headline)
    published = meta.find_published(tree, line, html, tz, selector=overrides.published, url=url, now=now)
    author = meta.find_author(tree, line)
    attachments = find_attachments(tree, url)
    pruned = copy.deepcopy(tree)
    for bad in pruned.xpath("//script|//style|//noscript|//template"):
        bad.drop_tree()
    whole = copy.deepcopy(pruned) if not overrides.body else None
    if not overrides.body:
        prune_furniture(pruned)
    unwrap_inline(pruned)
    text = _body_text(pruned, url, overrides.body)
    if whole is not None and len(text) < _SHORT_BODY:
        # Pruning may have hit the article itself (a container named like furniture): compare.
        unwrap_inline(whole)
        unpruned = _body_text(whole, url, None)
        if len(unpruned) > _RECOVER_FACTOR * max(1, len(text)):
            text = unpruned
    text = clean_body(text, headline.title)
    return Article(headline.title, published, author, text, attachments)
