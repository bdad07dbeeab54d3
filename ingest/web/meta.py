"""Title, publication time and author of an article page, from its headline and date line.

Rules, none tied to a site:

* **title**: the on-page headline (``h1``/``h2``/an element whose class or id says title) that
  the ``<title>`` tag or ``og:title`` repeats; else ``<title>`` without its trailing site name
  (``标题_网易新闻``, ``标题 - 山西省人民政府门户网站``, ``标题|频道|新浪``).
* **published**: the first date in the text right after the headline (the date line of Chinese
  news and government pages: ``2019-09-07 13:43:45 来源: …``, ``发布时间：10-08 12:00``,
  ``时间：2019-09-18 06:23``); else a labelled date (``发布时间：``) anywhere on the page; else a date
  meta tag (``article:published_time``, ``PubDate``...); else htmldate's day, with the time the page
  shows for that day if it shows one. A date line without a year takes it from the meta date.
* **author**: ``作者：`` / ``来源：`` in the date line, else the author meta tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree
from lxml import html as lxml_html

from ingest.dates import FULL_DATE_RE, find_datetime, parse_datetime

_WS = re.compile(r"\s+")
_TITLE_SEP = re.compile(r"\s*(?:[_|｜]|\s[-–—]\s|[-–—]{1,2}|\s::\s)\s*")
_SITE_TAIL_MAX = 14
_HEADLINE_XPATH = (
    "//h1|//h2|//h3|//*[contains(translate(@class,'TITLE','title'),'title')]"
    "|//*[contains(translate(@id,'TITLE','title'),'title')]|//*[contains(@class,'headline')]"
)
_DATE_META = (
    "article:published_time",
    "og:release_date",
    "og:article:published_time",
    "pubdate",
    "publishdate",
    "publish_date",
    "publishtime",
    "datepublished",
    "dc.date.issued",
    "dc.date",
    "firstpublishedtime",
    "dateupdate",
    "weibo: article:create_at",
)
_AUTHOR_META = ("article:author", "og:article:author", "author", "contentsource", "source", "dc.creator")
_AUTHOR_LABEL = re.compile(
    r"(?:作者|撰稿|执笔|文|来源|信息来源|文章来源|稿件来源|稿源|出处)\s*[:：]\s*"
    r"(?P<name>[^\s:：|｜/,，;；<>]{2,24})"
)
_NOT_AUTHOR = re.compile(r"^(?:发布|时间|日期|浏览|阅读|点击|字体|打印|分享|责任编辑|编辑|\d)")
_GENERIC_AUTHORS = frozenset({"网易", "新浪", "腾讯", "搜狐", "admin", "administrator"})
_DATE_WINDOW = 160
_MIN_H1 = 6
_BADGE_MAX = 4
_SITE_NAME_MAX = 16
_SITE_NAME = re.compile(r"(?:网|网站|政府|门户|首页|频道|官网|主页|平台)$")
_NOT_HEADLINE = (
    "ancestor::a|ancestor::li|ancestor::*[contains(@class,'logo') or contains(@id,'logo')"
    " or contains(@class,'header') or contains(@id,'header')]"
)
_RELATIVE_RE = re.compile(
    r"刚刚|\d+\s*(?:秒钟?|分钟|小时)前|(?:今天|昨天|前天)(?:\s*\d{1,2}:\d{2})?|\d+\s*天前"
)
_FALLBACK_XPATHS = (
    "//body//h1",
    "//body//*[contains(translate(@class,'TITLE','title'),'title') or contains(translate(@id,'TITLE','title'),'title')]",
    "//body//h2",
)
_VISIBLE_LIMIT = 200_000
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "head", "title"})


def squash(text: str | None) -> str:
    """Whitespace runs (U+3000 and NBSP too) as one space, stripped."""
    return _WS.sub(" ", (text or "").replace("\u3000", " ").replace("\xa0", " ")).strip()


def element_text(element: lxml_html.HtmlElement) -> str:
    return squash(element.text_content())


def _meta(tree: lxml_html.HtmlElement, names: tuple[str, ...]) -> list[str]:
    found: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        content = squash(meta.get("content"))
        if key in names and content and key not in found:
            found[key] = content
    return [found[n] for n in names if n in found]


def strip_site_name(title: str) -> str:
    """``标题_网易新闻`` -> ``标题``: drop short trailing parts after ``_ | - —`` separators."""
    parts = _TITLE_SEP.split(title)
    while len(parts) > 1 and len(parts[-1]) <= _SITE_TAIL_MAX and len("".join(parts[:-1])) >= 4:
        parts.pop()
    if len(parts) == 1:
        return parts[0]
    # What remains had separators inside the headline (1-10月...): keep it as written.
    head = title
    for tail in reversed(_TITLE_SEP.split(title)[len(parts) :]):
        cut = head.rfind(tail)
        head = head[:cut].rstrip(" _|｜-–—") if cut > 0 else head
    return head.strip()


@dataclass
class Headline:
    """The chosen title and the element showing it on the page (None if taken from ``<title>``)."""

    title: str | None
    element: lxml_html.HtmlElement | None


def find_headline(tree: lxml_html.HtmlElement, selector: str | None = None) -> Headline:
    """The article's headline; ``selector`` (CSS) overrides the rules."""
    if selector:
        for element in tree.cssselect(selector):
            text = element_text(element)
            if text:
                return Headline(text, element)
    tag = squash(tree.findtext(".//title"))
    references = [r for r in (tag, *_meta(tree, ("og:title",))) if r]
    cleaned = strip_site_name(tag) if tag else (references[0] if references else "")
    best: tuple[int, lxml_html.HtmlElement, str] | None = None
    for element in tree.xpath(_HEADLINE_XPATH):
        if element.tag in ("title", "meta", "head", "html", "body") or element.getparent() is None:
            continue
        if element.xpath("ancestor::a|ancestor::li|descendant::li"):
            continue  # related-article lists
        text = element_text(element)
        if not 4 <= len(text) <= 120:
            continue
        if cleaned and text == cleaned:
            return Headline(text, element)
        if cleaned and len(cleaned) >= _MIN_H1 and cleaned in text and len(text) - len(cleaned) <= _BADGE_MAX:
            return Headline(cleaned, element)  # a badge (原创, 置顶) inside the headline element
        matched = any(text in r or (cleaned and cleaned in text and len(text) <= len(r)) for r in references)
        if matched and len(text) >= max(6, 0.6 * len(cleaned)) and (best is None or len(text) > best[0]):
            best = (len(text), element, text)
    if best is not None:
        return Headline(best[2], best[1])
    site_only = bool(cleaned) and len(cleaned) <= _SITE_NAME_MAX and bool(_SITE_NAME.search(cleaned))
    if cleaned and not site_only:
        element = _element_showing(tree, cleaned)
        if element is not None:
            return Headline(cleaned, element)
    # <title> names only the site, or is not shown: the first real h1, title-classed element, h2.
    for xpath in _FALLBACK_XPATHS:
        for element in tree.xpath(xpath):
            text = element_text(element)
            if not _MIN_H1 <= len(text) <= 120 or text == cleaned or element.xpath(_NOT_HEADLINE):
                continue
            if len(text) <= _SITE_NAME_MAX and _SITE_NAME.search(text):
                continue  # the site's name in its banner
            return Headline(text, element)
    return Headline(cleaned or None, None)


def _element_showing(tree: lxml_html.HtmlElement, text: str) -> lxml_html.HtmlElement | None:
    body = tree.find(".//body")
    if body is None:
        return None
    for element in body.iter():
        if not isinstance(element.tag, str) or element.tag in ("a", "script", "style", "title"):
            continue
        own = squash(element.text)
        if own and own == text:
            return element
    return None


def _text_after(tree: lxml_html.HtmlElement, element: lxml_html.HtmlElement | None, limit: int) -> str:
    """The visible text that follows ``element`` (None: all of it) in document order, up to ``limit``."""
    chunks: list[str] = []
    size = 0
    state = {"after": element is None, "skip": 0}
    for event, node in etree.iterwalk(tree, events=("start", "end")):
        markup = not isinstance(node.tag, str)  # comments and processing instructions: only tails count
        hidden = not markup and node.tag in _INVISIBLE
        if event == "start":
            if hidden:
                state["skip"] += 1
            elif state["after"] and not state["skip"] and not markup and node.text:
                chunks.append(node.text)
            continue
        if hidden:
            state["skip"] -= 1
        if node is element:
            state["after"] = True
        if state["after"] and not state["skip"] and node.tail:
            chunks.append(node.tail)
        size = sum(len(c) for c in chunks)
        if size >= limit * 2:
            break
    return squash(" ".join(chunks))[:limit]


def date_line(tree: lxml_html.HtmlElement, headline: Headline) -> str:
    """The text under the headline where Chinese pages print date, source and author."""
    if headline.element is None:
        return ""
    return _text_after(tree, headline.element, _DATE_WINDOW)


def find_published(
    tree: lxml_html.HtmlElement,
    line: str,
    html: str,
    tz: str,
    *,
    selector: str | None = None,
    url: str | None = None,
    now: datetime | None = None,
) -> datetime | None:
    """The publication instant (UTC); see the module docstring for the order of evidence.

    ``now`` (the fetch time) reads a date line that says only ``3小时前`` / ``昨天 10:21``; it is the
    last resort, as a saved page read later would be misdated by it.
    """
    meta_time = next(
        (t for t in (parse_datetime(v, tz=tz) for v in _meta(tree, _DATE_META)) if t is not None), None
    )
    if selector:
        for element in tree.cssselect(selector):
            found = find_datetime(element_text(element), tz, meta_time)
            if found:
                return found.value
    if line:
        found = find_datetime(line, tz, meta_time)
        if found:
            zone = ZoneInfo(tz)
            same_day = (
                meta_time is not None
                and meta_time.astimezone(zone).date() == found.value.astimezone(zone).date()
            )
            # The page shows the day only and a meta tag has the time of that day: take the time too.
            return meta_time if same_day and not found.has_time and meta_time is not None else found.value
    visible = _text_after(tree, None, _VISIBLE_LIMIT)
    labelled = find_datetime(visible, tz, meta_time, labelled_only=True)  # 发布时间：… away from the headline
    if labelled:
        return labelled.value
    if meta_time is not None:
        return meta_time
    day = _htmldate(html, tz, url)
    if day is None:
        relative = _RELATIVE_RE.search(line) if line and now is not None else None
        return parse_datetime(relative.group(0), tz=tz, now=now) if relative else None
    # htmldate knows the day only: the same day shown with its time on the page is better.
    zone = ZoneInfo(tz)
    wanted = day.astimezone(zone).date()
    for match in FULL_DATE_RE.finditer(visible):
        found = find_datetime(match.group(0), tz)
        if found and found.has_time and found.value.astimezone(zone).date() == wanted:
            return found.value
    return day


def _htmldate(html: str, tz: str, url: str | None) -> datetime | None:
    from htmldate import find_date

    try:
        found = find_date(html, extensive_search=True, original_date=True, url=url)
    except (ValueError, TypeError):  # htmldate raises on some malformed trees
        return None
    return parse_datetime(found, tz=tz) if found else None


def find_author(tree: lxml_html.HtmlElement, line: str) -> str | None:
    """``作者：`` / ``来源：`` in the date line, else an author meta tag that names someone."""
    for match in _AUTHOR_LABEL.finditer(line):
        name = match.group("name")
        if not _NOT_AUTHOR.match(name):
            return name
    for value in _meta(tree, _AUTHOR_META):
        if value.lower() not in _GENERIC_AUTHORS and not value.startswith(("http://", "https://")):
            return value
    return None
