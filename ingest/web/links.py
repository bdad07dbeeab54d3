"""Links of list pages: article links, the next page, canonical URLs.

Article links come from a CSS selector (``a`` elements, or containers whose links are taken),
else automatically from the page's main list: the container (``ul``/``ol``/``table``/``div``)
holding the most headline-length links to this host (with a regex: to addresses matching it), so
a larger block of 友情链接 to other sites is not taken for the list.
Either way an optional regex on the absolute URL filters them, and only http(s) links on the list
page's host are kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import html as lxml_html

from ingest.web.extract import ATTACHMENT_EXTENSIONS
from ingest.web.meta import squash

_TRACKING = re.compile(r"^(?:utm_\w+|spm|from|source|share_token|share_from|wfr|isappinstalled)$", re.I)
_LIST_CONTAINERS = ("ul", "ol", "table", "tbody", "div", "section", "dl")
_MIN_LINK_TEXT = 6
_NEXT_WORDS = ("下一页", "下页", "next", "›", "»", ">")


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no fragment, no tracking parameters."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in {("http", 80), ("https", 443)} else f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _absolute_http(href: str | None, base: str) -> str | None:
    href = (href or "").strip()
    if not href or href.startswith(("javascript:", "mailto:", "tel:", "#")):
        return None
    absolute = urljoin(base, href)
    return absolute if absolute.startswith(("http://", "https://")) else None


def _is_file(url: str) -> bool:
    last = urlsplit(url).path.rsplit("/", 1)[-1].lower()
    return "." in last and last.rsplit(".", 1)[-1] in ATTACHMENT_EXTENSIONS


def _anchors(elements: Iterable[lxml_html.HtmlElement]) -> list[lxml_html.HtmlElement]:
    out: list[lxml_html.HtmlElement] = []
    for element in elements:
        out.extend([element] if element.tag == "a" else element.iter("a"))
    return out


def _main_list(
    tree: lxml_html.HtmlElement, usable: Callable[[lxml_html.HtmlElement], bool]
) -> list[lxml_html.HtmlElement]:
    """The usable headline-like anchors of the container holding the most of them."""
    counts: Counter[lxml_html.HtmlElement] = Counter()
    for anchor in tree.iter("a"):
        if len(squash(anchor.text_content())) < _MIN_LINK_TEXT or not usable(anchor):
            continue
        parent = anchor.getparent()
        while parent is not None and parent.tag not in _LIST_CONTAINERS:
            parent = parent.getparent()
        if parent is not None:
            counts[parent] += 1
    if not counts:
        return []
    container, _ = counts.most_common(1)[0]
    return [a for a in container.iter("a") if len(squash(a.text_content())) >= _MIN_LINK_TEXT]


def find_article_links(
    tree: lxml_html.HtmlElement,
    page_url: str,
    *,
    selector: str | None = None,
    pattern: str | None = None,
) -> list[str]:
    """Canonical article URLs of a list page, in page order, without repeats."""
    host = urlsplit(page_url).hostname
    regex = re.compile(pattern) if pattern else None
    own = canonical_url(page_url)

    def target(anchor: lxml_html.HtmlElement) -> str | None:
        absolute = _absolute_http(anchor.get("href"), page_url)
        if absolute is None or urlsplit(absolute).hostname != host or _is_file(absolute):
            return None
        if regex is not None and not regex.search(absolute):
            return None
        url = canonical_url(absolute)
        return None if url == own else url

    anchors = (
        _anchors(tree.cssselect(selector)) if selector else _main_list(tree, lambda a: target(a) is not None)
    )
    out: dict[str, None] = {}
    for anchor in anchors:
        url = target(anchor)
        if url is not None:
            out.setdefault(url, None)
    return list(out)


def next_page_link(tree: lxml_html.HtmlElement, page_url: str, selector: str | None = None) -> str | None:
    """The next list page: the ``selector``'s link, else a link reading 下一页 / next / rel=next."""
    if selector:
        candidates = _anchors(tree.cssselect(selector))
    else:
        candidates = [a for a in tree.iter("a") if (a.get("rel") or "").lower() == "next"]
        candidates += [a for a in tree.iter("a") if squash(a.text_content()).lower() in _NEXT_WORDS]
    for anchor in candidates:
        absolute = _absolute_http(anchor.get("href"), page_url)
        if absolute and canonical_url(absolute) != canonical_url(page_url):
            return absolute
    return None


def template_page(template: str, page: int) -> str:
    """``https://x/list_{page}.html`` with the page number filled in."""
    return template.replace("{page}", str(page))


def check_selector(selector: str | None) -> str | None:
    """Validate a CSS selector (a pydantic validator helper): ValueError naming the fault."""
    if selector:
        from cssselect import GenericTranslator, SelectorError

        try:
            GenericTranslator().css_to_xpath(selector)
        except SelectorError as exc:
            raise ValueError(f"not a CSS selector: {selector!r} ({exc})") from None
    return selector
