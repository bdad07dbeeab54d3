"""Web pages without a feed: list pages followed to articles (government notices, local news).

A run reads each configured list page (and its next pages, up to ``pagination.max_pages``),
collects article links (:mod:`ingest.web.links`), fetches the articles it has not seen and
extracts them (:func:`ingest.web.extract.extract_article`). Politely (:mod:`ingest.web.polite`):
robots.txt is honoured for every list page and article, requests to one host start at least
``request_interval_s`` apart (or the robots ``Crawl-delay``) with at most ``concurrency`` in flight,
and the User-Agent is ``http.user_agent``. Retries with back-off on 429/5xx/time-outs come from
:mod:`ingest.http`. One bad page never stops the run: it is skipped with a reason.

Incremental: list pages are fetched with ``If-None-Match`` / ``If-Modified-Since``; a list page
holding no unseen link ends that list's pagination; seen articles are remembered by canonical URL
in a bounded window. Articles that failed transiently (time-out, 5xx) are not remembered, so the
next run tries them again; pages that will not change (404, undecodable, disallowed by robots.txt)
are.

Cursor: ``{"seen": [canonical URLs], "lists": {list URL: {"etag", "last_modified"}},
"crawl": {last run's figures}, "last_fetch"}``. Intermediate batches commit only ``seen``; the list
validators move once the whole run is through, so a crash never hides unfetched articles behind
a 304.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingest import http as web
from ingest.base import (
    FatalSourceError,
    FetchBatch,
    Health,
    RawItem,
    RetriableSourceError,
    SourceError,
    SourceOptions,
)
from ingest.cursors import merged, remember, stable_id, to_iso
from ingest.web.decode import UndecodableError, decode_html
from ingest.web.extract import Overrides, extract_article, parse_html
from ingest.web.links import check_selector, find_article_links, next_page_link, template_page
from ingest.web.polite import HostThrottle, RobotsRules
from ingest.web.render import BrowserRenderer

MAX_CRAWL_DELAY_S = 60.0
BATCH_SIZE = 10


class LinkOptions(BaseModel):
    """How to find article links on a list page."""

    model_config = ConfigDict(extra="forbid")

    selector: str | None = Field(
        default=None, description="CSS selector of article links (or their containers)"
    )
    pattern: str | None = Field(default=None, description="regex an article URL must match")

    _selector = field_validator("selector")(check_selector)

    @field_validator("pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return v


class WebPagination(BaseModel):
    """How to reach the next list page."""

    model_config = ConfigDict(extra="forbid")

    next_selector: str | None = Field(
        default=None, description="CSS selector of the next-page link ('auto': a 下一页/next link)"
    )
    page_template: str | None = Field(
        default=None, description="URL of page N with '{page}', e.g. https://x.gov.cn/tzgg/index_{page}.html"
    )
    start_page: int = Field(
        default=2, ge=0, le=10_000, description="number of the second page in the template"
    )
    max_pages: int = Field(default=5, ge=1, le=200, description="list pages read per list URL and run")

    @field_validator("next_selector")
    @classmethod
    def _next(cls, v: str | None) -> str | None:
        return v if v == "auto" else check_selector(v)

    @model_validator(mode="after")
    def _one_way(self) -> WebPagination:
        if self.next_selector and self.page_template:
            raise ValueError("either next_selector or page_template, not both")
        if self.page_template and "{page}" not in self.page_template:
            raise ValueError("page_template needs a '{page}' placeholder")
        return self


class WebOptions(SourceOptions):
    """Options of a ``web`` source."""

    list_urls: list[str] = Field(min_length=1, description="list pages (通知公告, 政策解读 ...)")
    links: LinkOptions = Field(default_factory=LinkOptions)
    pagination: WebPagination = Field(default_factory=WebPagination)
    overrides: Overrides = Field(
        default_factory=Overrides, description="CSS selectors for title/published/body"
    )
    render: Literal["http", "browser"] = Field(
        default="http", description="'browser': render list pages in Chromium (lists built by script)"
    )
    chromium_path: str | None = Field(default=None, description="Chromium executable for render: browser")
    encoding: str | None = Field(default=None, description="force this charset when the site lies about it")
    request_interval_s: float = Field(
        default=1.0, ge=0, le=600, description="least time between requests to a host"
    )
    concurrency: int = Field(default=2, ge=1, le=8, description="requests in flight per host")
    max_articles: int = Field(default=100, ge=1, le=10_000, description="articles fetched per run")
    seen_limit: int = Field(default=5000, ge=100, le=100_000, description="article URLs remembered")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    http: web.HttpPolicy = Field(default_factory=web.HttpPolicy, description="time-outs, retries, User-Agent")

    @field_validator("list_urls")
    @classmethod
    def _http_urls(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"an http(s) URL, got {url!r}")
        return v


@dataclass
class CrawlStats:
    """What one run did, kept in the cursor for the 数据源健康 page."""

    pages: int = 0
    lists_not_modified: int = 0
    articles_new: int = 0
    articles_unchanged: int = 0
    robots_refused: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None

    def skip(self, ref: str, reason: str, error: str | None = None) -> tuple[str, str]:
        self.skipped[reason] += 1
        if reason in ("robots", "robots_unavailable"):
            self.robots_refused += 1
        if error:
            self.last_error = error
        return ref, reason

    def as_dict(self, at: datetime) -> dict[str, Any]:
        return {
            "at": to_iso(at),
            "pages": self.pages,
            "lists_not_modified": self.lists_not_modified,
            "articles_new": self.articles_new,
            "articles_unchanged": self.articles_unchanged,
            "articles_skipped": sum(self.skipped.values()),
            "skipped": dict(self.skipped),
            "robots_refused": self.robots_refused,
            "last_error": self.last_error,
        }


@dataclass
class _Outcome:
    url: str
    item: RawItem | None = None
    reason: str | None = None
    remember: bool = True
    error: str | None = None


class WebSource(web.HttpSource):
    """List pages of one site followed to their articles."""

    kind: ClassVar[str] = "web"
    options_model: ClassVar[type[SourceOptions]] = WebOptions
    default_channel: ClassVar[str] = "gov"

    options: WebOptions

    # -- list pages ---------------------------------------------------------------------
    def _list_html(
        self,
        client: Any,
        renderer: BrowserRenderer | None,
        throttle: HostThrottle,
        url: str,
        validators: dict,
    ) -> tuple[str | None, dict[str, str]]:
        """The list page's HTML (None when not modified) and its validators."""
        if renderer is not None:
            return renderer.render(url), {}
        headers = {**self.options.headers, **web.conditional_headers(validators)}
        result = throttle.run(
            url, lambda: web.fetch(client, url, self.options.http, headers=headers, sleep=self.sleep)
        )
        if result.not_modified:
            return None, dict(validators)
        page = decode_html(result.content, web.content_charset(result.headers), self.options.encoding)
        return page.text, web.validators_from(result.headers)

    def _list_links(
        self,
        list_url: str,
        client: Any,
        renderer: BrowserRenderer | None,
        throttle: HostThrottle,
        robots: RobotsRules,
        state: dict[str, Any],
        known: set[str],
        stats: CrawlStats,
        skipped: list[tuple[str, str]],
    ) -> tuple[list[str], dict[str, str] | None]:
        """Unseen article links of one list and its next pages; the first page's new validators."""
        opts, pag = self.options, self.options.pagination
        fresh: list[str] = []
        validators: dict[str, str] | None = None
        url: str | None = list_url
        for n in range(pag.max_pages):
            if url is None:
                break
            refusal = robots.refusal(url)
            if refusal:
                skipped.append(stats.skip(url, refusal, f"{url}: {refusal.replace('_', ' ')}"))
                break
            try:
                html, page_validators = self._list_html(
                    client, renderer, throttle, url, state if n == 0 else {}
                )
            except UndecodableError as exc:
                skipped.append(stats.skip(url, "undecodable", f"{url}: {exc}"))
                break
            except SourceError as exc:
                skipped.append(stats.skip(url, "list_failed", str(exc)))
                break
            if n == 0:
                validators = page_validators
            if html is None:
                stats.lists_not_modified += 1
                break
            stats.pages += 1
            tree = parse_html(html)
            links = find_article_links(tree, url, selector=opts.links.selector, pattern=opts.links.pattern)
            new = [link for link in links if link not in known]
            known.update(new)
            stats.articles_unchanged += len(links) - len(new)
            fresh.extend(new)
            if links and not new:
                break  # an all-seen page: the pages after it are older still
            if pag.page_template:
                url = template_page(pag.page_template, pag.start_page + n)
            elif pag.next_selector:
                selector = None if pag.next_selector == "auto" else pag.next_selector
                url = next_page_link(tree, url, selector)
            else:
                url = None
        return fresh, validators

    # -- articles -----------------------------------------------------------------------
    def _article(self, client: Any, throttle: HostThrottle, robots: RobotsRules, url: str) -> _Outcome:
        refusal = robots.refusal(url)
        if refusal:  # disallowed: remembered; robots.txt unreachable: tried again next run
            return _Outcome(url, reason=refusal, remember=refusal == "robots")
        headers = dict(self.options.headers)
        try:
            result = throttle.run(
                url, lambda: web.fetch(client, url, self.options.http, headers=headers, sleep=self.sleep)
            )
        except RetriableSourceError as exc:
            return _Outcome(url, reason="fetch_failed", remember=False, error=str(exc))
        except FatalSourceError as exc:
            return _Outcome(url, reason="http_error", error=str(exc))
        try:
            page = decode_html(result.content, web.content_charset(result.headers), self.options.encoding)
        except UndecodableError as exc:
            return _Outcome(url, reason="undecodable", error=f"{url}: {exc}")
        try:
            article = extract_article(
                page.text,
                url=result.url,
                tz=self.timezone,
                overrides=self.options.overrides,
                now=datetime.now(UTC),
            )
        except Exception as exc:  # noqa: BLE001 - a page that breaks the parser is skipped, not fatal
            self.log.warning("%s: extraction failed: %s", url, exc)
            return _Outcome(url, reason="extract_failed", error=f"{url}: extraction failed: {exc}")
        if not article.text and not article.title:
            return _Outcome(url, reason="empty_article")
        extra: dict[str, Any] = {"charset": page.charset}
        if article.attachments:
            extra["attachments"] = [
                {"url": a.url, "title": a.name} for a in article.attachments
            ]  # "name" is a personal key
        item = RawItem(
            external_id=stable_id(url),
            content=article.text,
            title=article.title,
            url=url,
            published_at=article.published,
            author=article.author,
            extra=extra,
        )
        return _Outcome(url, item=item)

    # -- the run ------------------------------------------------------------------------
    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        opts = self.options
        now = datetime.now(UTC)
        stats = CrawlStats()
        seen = list(cursor.get("seen", []))
        known = set(seen)
        lists: dict[str, Any] = dict(cursor.get("lists") or {})
        new_lists = dict(lists)
        skipped: list[tuple[str, str]] = []
        reached = 0
        render = BrowserRenderer(opts.http.user_agent, opts.http.read_timeout_s, opts.chromium_path)
        with (
            self.client_factory(opts.http) as client,
            render if opts.render == "browser" else contextlib.nullcontext() as renderer,
        ):
            robots = RobotsRules(client, opts.http, self.sleep)
            throttle = HostThrottle(opts.request_interval_s, opts.concurrency, sleep=self.sleep)
            queue: list[tuple[str, str]] = []  # (list URL, article URL)
            for list_url in opts.list_urls:
                delay = robots.crawl_delay(list_url)
                if delay:
                    throttle.set_interval(list_url, min(delay, MAX_CRAWL_DELAY_S))
                before = stats.pages + stats.lists_not_modified
                links, validators = self._list_links(
                    list_url,
                    client,
                    renderer,
                    throttle,
                    robots,
                    lists.get(list_url) or {},
                    known,
                    stats,
                    skipped,
                )
                reached += (stats.pages + stats.lists_not_modified) > before
                queue.extend((list_url, link) for link in links)
                if validators is not None:
                    new_lists[list_url] = validators
            complete = {list_url for list_url in opts.list_urls}
            for list_url, _ in queue[opts.max_articles :]:
                complete.discard(list_url)  # left for the next run: keep the old validators
            todo = queue[: opts.max_articles]
            with ThreadPoolExecutor(
                max_workers=opts.concurrency, thread_name_prefix=f"web-{self.name}"
            ) as pool:
                for start in range(0, len(todo), BATCH_SIZE):
                    chunk = todo[start : start + BATCH_SIZE]
                    outcomes = list(
                        pool.map(lambda pair: self._article(client, throttle, robots, pair[1]), chunk)
                    )
                    items: list[RawItem] = []
                    done: list[str] = []
                    batch_skipped = skipped
                    skipped = []
                    for (list_url, _), outcome in zip(chunk, outcomes, strict=True):
                        if outcome.item is not None:
                            outcome.item.extra["list_url"] = list_url
                            items.append(outcome.item)
                            stats.articles_new += 1
                        else:
                            batch_skipped.append(stats.skip(outcome.url, outcome.reason or "", outcome.error))
                        if outcome.remember:
                            done.append(outcome.url)
                        else:
                            complete.discard(list_url)
                    seen = remember(seen, done, opts.seen_limit)
                    yield FetchBatch(items=items, cursor=merged(cursor, seen=seen), skipped=batch_skipped)
        for list_url in opts.list_urls:
            if list_url not in complete:
                new_lists[list_url] = lists.get(list_url) or {}
        final = merged(cursor, seen=seen, lists=new_lists, crawl=stats.as_dict(now), last_fetch=to_iso(now))
        yield FetchBatch(items=[], cursor=final, skipped=skipped)
        if reached == 0:
            raise RetriableSourceError(f"no list page could be read; last error: {stats.last_error}")

    def check(self) -> Health:
        policy = self.options.http.model_copy(update={"retries": 0})
        url = self.options.list_urls[0]
        try:
            with self.client_factory(policy) as client:
                robots = RobotsRules(client, policy, self.sleep)
                refusal = robots.refusal(url)
                if refusal:
                    return Health(ok=False, detail=f"{url}: {refusal.replace('_', ' ')} (robots.txt)")
                result = web.fetch(client, url, policy, headers=self.options.headers, sleep=self.sleep)
                page = decode_html(result.content, web.content_charset(result.headers), self.options.encoding)
        except (SourceError, UndecodableError) as exc:
            return Health(ok=False, detail=str(exc))
        links = find_article_links(
            parse_html(page.text),
            url,
            selector=self.options.links.selector,
            pattern=self.options.links.pattern,
        )
        return Health(ok=bool(links), detail=f"HTTP {result.status}, {len(links)} article links on {url}")
