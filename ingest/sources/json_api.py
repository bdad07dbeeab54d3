"""Any JSON HTTP API, mapped to items by dotted paths in config.

``fields`` says where each item field is (``data.user.name``, or a list: first non-empty wins);
``items_path`` where the list of records is (default: the root list, or the first list under
``items``/``data``/``records``...). Pagination is by page number or by a cursor taken from the
answer, and stops at an empty page, at a page holding nothing new, or after ``max_pages``.
Header values (and ``auth_value``) may be ``$env:NAME`` references, read at fetch time; an unset
variable is a fatal configuration error.

Cursor: ``{"seen": [recent ids], "last_time": newest item time}``. Intermediate pages commit
only ``seen``; ``last_time`` moves once the whole run is through, so a crash mid-run never skips
the pages it did not reach. The ``weibo_hot_search`` preset reads the hot-search board (a list of
``title, category, description, url, hot, ads, read_count, discuss_count``): one item per title
per day (``id_time_bucket: day``), time = fetch time, promoted entries skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingest import http as web
from ingest.base import (
    FatalSourceError,
    FetchBatch,
    Health,
    RawItem,
    Rejected,
    RetriableSourceError,
    SourceError,
    SourceOptions,
)
from ingest.cursors import from_iso, merged, remember, stable_id, to_iso
from ingest.mapping import FieldMap, RowError, get_path, record_to_item
from ingest.tabular import items_of

WEIBO_HOT_SEARCH = FieldMap(
    external_id=["title"],
    content=["description", "title"],
    title="title",
    url="url",
    reads=["read_count", "readCount"],
    comments=["discuss_count", "discussCount"],
    extra={"hot": "hot", "category": "category", "ads": "ads", "origin": "origin"},
)
PRESETS: dict[str, dict[str, Any]] = {
    "weibo_hot_search": {
        "fields": WEIBO_HOT_SEARCH,
        "missing_time": "now",
        "id_time_bucket": "day",
        "skip_if_true": ["ads"],
    },
}


class PaginationOptions(BaseModel):
    """How to ask for the next page."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["none", "page", "cursor"] = Field(default="none", description="none | page | cursor")
    page_param: str = Field(default="page", description="page mode: the page-number parameter")
    start_page: int = Field(default=1, ge=0)
    size_param: str | None = Field(default=None, description="parameter carrying the page size")
    page_size: int | None = Field(default=None, ge=1, le=10_000)
    cursor_param: str = Field(default="cursor", description="cursor mode: parameter sending the cursor")
    next_cursor_path: str = Field(
        default="next_cursor", description="cursor mode: dotted path of the next cursor"
    )
    max_pages: int = Field(default=20, ge=1, le=10_000)


class JsonApiOptions(SourceOptions):
    """Options of a ``json_api`` source."""

    url: str = Field(description="endpoint URL (http or https)")
    preset: Literal["weibo_hot_search"] | None = Field(
        default=None, description="ready mapping for a known API shape"
    )
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict, description="query parameters (POST: JSON body)")
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra headers; values may be $env:NAME"
    )
    auth_header: str = Field(default="Authorization", description="header carrying the credential")
    auth_value: str | None = Field(default=None, description="credential reference, e.g. $env:API_TOKEN")
    auth_prefix: str = Field(default="", description="put before the credential, e.g. 'Bearer '")
    items_path: str | None = Field(default=None, description="dotted path of the list of records")
    fields: FieldMap | None = Field(default=None, description="where each item field is in a record")
    missing_time: Literal["flag", "now"] = Field(
        default="flag", description="item without time: flag it, or 'now'"
    )
    id_time_bucket: Literal["none", "hour", "day"] = Field(
        default="none", description="re-admit an id every hour/day"
    )
    skip_if_true: list[str] = Field(
        default_factory=list, description="skip records where these paths are true"
    )
    pagination: PaginationOptions = Field(default_factory=PaginationOptions)
    http: web.HttpPolicy = Field(default_factory=web.HttpPolicy)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"an http(s) URL, got {v!r}")
        return v

    @field_validator("auth_value")
    @classmethod
    def _secret_ref(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("$env:", "$file:")):
            raise ValueError("a secret reference '$env:NAME' or '$file:PATH', never a literal secret")
        return v

    @model_validator(mode="after")
    def _apply_preset(self) -> JsonApiOptions:
        if self.preset:
            for key, value in PRESETS[self.preset].items():
                if key not in self.model_fields_set:
                    object.__setattr__(self, key, value)
        if self.fields is None:
            raise ValueError("either a 'preset' or a 'fields' mapping (at least fields.content)")
        if not self.fields.content and not self.fields.title:
            raise ValueError("fields.content (or fields.title) must name where the text is")
        return self


def resolve_ref(value: str) -> str:
    """``$env:NAME`` / ``$file:PATH`` -> its value (FatalSourceError when unset); literals unchanged."""
    if not value.startswith(("$env:", "$file:")):
        return value
    from kernel.settings import resolve_secret

    resolved = resolve_secret(value)
    if resolved is None:
        raise FatalSourceError(f"{value} is not set")
    return resolved


class JsonApiSource(web.HttpSource):
    """One JSON HTTP endpoint with a field mapping."""

    kind: ClassVar[str] = "json_api"
    options_model: ClassVar[type[SourceOptions]] = JsonApiOptions
    default_channel: ClassVar[str] = "social"

    options: JsonApiOptions

    def _headers(self) -> dict[str, str]:
        headers = {k: resolve_ref(v) for k, v in self.options.headers.items()}
        if self.options.auth_value:
            headers[self.options.auth_header] = self.options.auth_prefix + resolve_ref(
                self.options.auth_value
            )
        return headers

    def _page(self, client: Any, params: dict[str, Any], policy: web.HttpPolicy) -> Any:
        opts = self.options
        body = params if opts.method == "POST" else None
        query = None if opts.method == "POST" else params
        result = web.fetch(
            client,
            opts.url,
            policy,
            method=opts.method,
            headers=self._headers(),
            params=query,
            json_body=body,
            sleep=self.sleep,
        )
        try:
            return json.loads(result.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RetriableSourceError(
                f"{opts.url}: invalid JSON ({exc}); {len(result.content)} bytes"
            ) from None

    def _params(self, page: int, next_cursor: Any = None) -> dict[str, Any]:
        pag = self.options.pagination
        params = dict(self.options.params)
        if pag.mode == "page":
            params[pag.page_param] = page
        elif pag.mode == "cursor" and next_cursor is not None:
            params[pag.cursor_param] = next_cursor
        if pag.size_param and pag.page_size:
            params[pag.size_param] = pag.page_size
        return params

    def _records(self, document: Any) -> list[Any]:
        if self.options.items_path:
            found = get_path(document, self.options.items_path) if isinstance(document, dict) else None
            return found if isinstance(found, list) else []
        return items_of(document)

    def _bucket(self, now: datetime) -> str:
        local = now.astimezone(ZoneInfo(self.timezone))
        return {"hour": local.strftime("%Y-%m-%dT%H"), "day": local.strftime("%Y-%m-%d")}.get(
            self.options.id_time_bucket, ""
        )

    def _to_items(
        self, records: list[Any], now: datetime, page: int
    ) -> tuple[list[RawItem], list[tuple[str, str]], list[Rejected]]:
        """Items, filtered records (ref, reason) and unusable records (dead-lettered) of one page."""
        opts = self.options
        assert opts.fields is not None
        items: list[RawItem] = []
        skipped: list[tuple[str, str]] = []
        rejected: list[Rejected] = []
        bucket = self._bucket(now)
        for n, record in enumerate(records, start=1):
            ref = f"page {page} item {n}"
            if not isinstance(record, dict):
                message = f"a JSON object, got {type(record).__name__}"
                rejected.append(Rejected(ref, "not_an_object", "InvalidItemError", message))
                continue
            hit = next((p for p in opts.skip_if_true if get_path(record, p) is True), None)
            if hit:
                skipped.append((ref, f"filtered:{hit}"))
                continue
            try:
                item = record_to_item(record, opts.fields, fallback_id="", tz=self.timezone, now=now)
            except RowError as exc:
                rejected.append(Rejected(ref, f"{exc.kind}:{exc.column}", "RowError", str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - any other unusable value: set aside
                rejected.append(Rejected(ref, "unreadable_record", type(exc).__name__, str(exc)[:300]))
                continue
            if not item.external_id:
                rejected.append(Rejected(ref, "missing_id", "InvalidItemError", "the id is empty"))
                continue
            if bucket:
                item.external_id = stable_id(f"{item.external_id}@{bucket}")
            if item.published_at is None and opts.missing_time == "now":
                item.published_at = now
            item.origin = ref
            items.append(item)
        return items, skipped, rejected

    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        opts, pag = self.options, self.options.pagination
        now = datetime.now(UTC)
        watermark = from_iso(cursor.get("last_time"))
        newest = watermark
        seen = list(cursor.get("seen", []))
        seen_set = set(seen)
        page, next_cursor = pag.start_page, None
        with self.client_factory(opts.http) as client:
            for n_page in range(pag.max_pages):
                params = self._params(page, next_cursor)
                document = self._page(client, params, opts.http)
                records = self._records(document)
                items, skipped, rejected = self._to_items(records, now, n_page + 1)
                fresh = [i for i in items if i.external_id not in seen_set]
                seen_set.update(i.external_id for i in fresh)
                seen = remember(seen, [i.external_id for i in fresh])
                times = [i.published_at for i in fresh if i.published_at is not None]
                if times:
                    newest = max([t for t in (newest, *times) if t is not None])
                yield FetchBatch(fresh, merged(cursor, seen=seen), skipped=skipped, rejected=rejected)
                older = watermark is not None and times and max(times) <= watermark
                if pag.mode == "none" or not records or not fresh or older:
                    break
                if pag.mode == "page":
                    page += 1
                else:
                    next_cursor = (
                        get_path(document, pag.next_cursor_path) if isinstance(document, dict) else None
                    )
                    if next_cursor in (None, "", 0):
                        break
        yield FetchBatch(
            items=[], cursor=merged(cursor, seen=seen, last_time=to_iso(newest), last_fetch=to_iso(now))
        )

    def check(self) -> Health:
        policy = self.options.http.model_copy(update={"retries": 0})
        try:
            with self.client_factory(policy) as client:
                document = self._page(client, self._params(self.options.pagination.start_page), policy)
        except SourceError as exc:
            return Health(ok=False, detail=str(exc))
        return Health(ok=True, detail=f"{len(self._records(document))} records on the first page")
