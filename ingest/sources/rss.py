"""RSS 2.0 / Atom feeds of government portals and news sites.

The body is fetched by :mod:`ingest.http` (retries, size limit, conditional GET with the
``ETag`` / ``Last-Modified`` kept in the cursor) and decoded here before feedparser sees it:
the HTTP charset, the XML declaration and a BOM are tried first, then UTF-8 and GB18030 (which
reads GBK and GB2312). A feed whose declared charset is wrong is still read, and its items are
flagged ``encoding_mismatch``. A malformed or truncated feed is parsed as far as it goes: the
items recovered are kept and flagged ``bozo``, and its validators are not stored so the next run
fetches it whole again. Relative links are resolved against the feed URL.

Cursor: ``{"etag", "last_modified", "seen": [recent ids], "last_fetch"}``. Items whose id is in
``seen`` are not yielded again, so a feed that ignores conditional GET re-imports nothing.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urljoin

import feedparser
from pydantic import Field, field_validator

from ingest import http as web
from ingest.base import FetchBatch, Health, RawItem, SourceError, SourceOptions
from ingest.cursors import merged, remember, stable_id, to_iso
from ingest.dates import parse_datetime

_XML_DECL_RE = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']", re.IGNORECASE)
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030", "utf8": "utf-8"}
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


class RssOptions(SourceOptions):
    """Options of an ``rss`` source."""

    url: str = Field(description="feed URL (http or https)")
    http: web.HttpPolicy = Field(default_factory=web.HttpPolicy, description="time-outs, retries, limits")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers")
    encoding: str | None = Field(default=None, description="force this charset when the server lies about it")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"an http(s) URL, got {v!r}")
        return v


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().lower()
    return _ALIASES.get(name, name)


def decode_feed(
    data: bytes, header_charset: str | None = None, forced: str | None = None
) -> tuple[str, list[str]]:
    """Decode feed bytes; returns the text and flags (``encoding_mismatch``, ``encoding_errors``).

    Order: a forced charset, a BOM, strict UTF-8 (GBK text is practically never valid UTF-8, while
    UTF-8 text often "decodes" as GBK or Latin-1), the declared charsets, then GB18030.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace"), []
    header_codec = _codec(header_charset)
    declared = [header_codec] if header_codec else []
    match = _XML_DECL_RE.match(data[:500])
    if match:
        declared.append(_codec(match.group(1).decode("ascii")) or "utf-8")
    forced_codec = _codec(forced)
    candidates = list(
        dict.fromkeys([*([forced_codec] if forced_codec else []), "utf-8", *declared, "gb18030"])
    )
    for name in candidates:
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        expected = forced_codec or (declared[0] if declared else "utf-8")
        plain_ascii = data.isascii()
        mismatch = name != expected and not plain_ascii and not (name == "utf-8" and expected == "utf-8-sig")
        return text, (["encoding_mismatch"] if mismatch else [])
    return data.decode("utf-8", errors="replace"), ["encoding_errors"]


def _as_utf8_xml(text: str) -> bytes:
    text = text.lstrip("\ufeff")
    text = re.sub(r"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])[^\"']+", r"\1utf-8", text, count=1, flags=re.I)
    return text.encode("utf-8")


def _entry_id(entry: Any) -> str:
    ident = entry.get("id") or entry.get("link")
    if ident:
        return stable_id(ident)
    basis = f"{entry.get('title', '')}\n{entry.get('summary', '')}"
    return "sha1:" + hashlib.sha1(basis.encode("utf-8")).hexdigest()


def _entry_time(entry: Any, tz: str, now: datetime) -> datetime | None:
    for key in ("published", "updated", "created"):
        raw = entry.get(key)
        if raw:
            parsed = parse_datetime(raw, tz=tz, now=now)
            if parsed is not None:
                return parsed
    for key in ("published_parsed", "updated_parsed"):
        st = entry.get(key)
        if st:
            year, month, day, hour, minute, second = st[:6]
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    return None


def _entry_body(entry: Any) -> str:
    for block in entry.get("content") or []:
        if block.get("value"):
            return str(block["value"])
    return str(entry.get("summary") or entry.get("description") or "")


class RssSource(web.HttpSource):
    """One RSS 2.0 or Atom feed."""

    kind: ClassVar[str] = "rss"
    options_model: ClassVar[type[SourceOptions]] = RssOptions
    default_channel: ClassVar[str] = "news"

    options: RssOptions

    def _get(self, cursor: dict[str, Any], policy: web.HttpPolicy) -> web.HttpResult:
        headers = {**self.options.headers, **web.conditional_headers(cursor)}
        with self.client_factory(policy) as client:
            return web.fetch(client, self.options.url, policy, headers=headers, sleep=self.sleep)

    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        now = datetime.now(UTC)
        result = self._get(cursor, self.options.http)
        if result.not_modified:
            self.log.debug("%s not modified", self.options.url)
            return
        text, flags = decode_feed(result.content, web.content_charset(result.headers), self.options.encoding)
        # No Content-Location: RSS 2.0 links stay as written, and relative ones are resolved below
        # against the channel's own <link> (the portal), else the feed URL. Atom xml:base applies.
        parsed = feedparser.parse(
            io.BytesIO(_as_utf8_xml(text)),
            response_headers={"content-type": "application/xml; charset=utf-8"},
        )
        if parsed.bozo:
            flags.append("bozo")
            self.log.warning(
                "%s is malformed (%s); keeping the %d entries read",
                result.url,
                parsed.bozo_exception,
                len(parsed.entries),
            )
        channel_link = str(parsed.feed.get("link") or "")
        base = channel_link if channel_link.startswith(("http://", "https://")) else result.url
        seen = list(cursor.get("seen", []))
        seen_set = set(seen)
        items: list[RawItem] = []
        skipped: list[tuple[str, str]] = []
        for n, entry in enumerate(parsed.entries, start=1):
            if not (entry.get("title") or _entry_body(entry) or entry.get("link")):
                skipped.append((f"{result.url}#{n}", "empty_entry"))
                continue
            ext = _entry_id(entry)
            if ext in seen_set:
                continue
            seen_set.add(ext)
            link = entry.get("link")
            item = RawItem(
                external_id=ext,
                content=_entry_body(entry),
                title=entry.get("title"),
                url=urljoin(base, link) if link else None,
                published_at=_entry_time(entry, self.timezone, now),
                author=entry.get("author"),
            )
            if flags:
                item.extra["flags"] = list(flags)
            items.append(item)
        changes: dict[str, Any] = {
            "seen": remember(seen, [i.external_id for i in items]),
            "last_fetch": to_iso(now),
        }
        changes.update(etag=None, last_modified=None)
        if not parsed.bozo and parsed.entries:  # a broken copy is no version to revalidate
            changes.update(web.validators_from(result.headers))
        if parsed.bozo and not parsed.entries:
            skipped.append((result.url, "unparseable_feed"))
        yield FetchBatch(items=items, cursor=merged(cursor, **changes), skipped=skipped)

    def check(self) -> Health:
        policy = self.options.http.model_copy(update={"retries": 0})
        try:
            result = self._get({}, policy)
        except SourceError as exc:
            return Health(ok=False, detail=str(exc))
        parsed = feedparser.parse(io.BytesIO(result.content))
        return Health(ok=bool(parsed.entries), detail=f"HTTP {result.status}, {len(parsed.entries)} entries")
