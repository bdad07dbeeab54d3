"""Source kinds, keyed by ``kind``: an explicit table, imported lazily (no import-time magic)."""

from __future__ import annotations

import importlib
from typing import Any

from ingest.base import Source, SourceOptions

SOURCE_KINDS: dict[str, str] = {
    "rss": "ingest.sources.rss:RssSource",
    "json_api": "ingest.sources.json_api:JsonApiSource",
    "hotline_files": "ingest.sources.hotline_files:HotlineFilesSource",
    "webhook": "ingest.sources.webhook:WebhookSource",
    "demo": "ingest.sources.demo:DemoSource",
    "web": "ingest.sources.web:WebSource",
}


class UnknownSourceKindError(KeyError):
    """No source implements this kind."""


def source_class(kind: str) -> type[Source]:
    """Return the class implementing ``kind``."""
    try:
        target = SOURCE_KINDS[kind]
    except KeyError:
        raise UnknownSourceKindError(
            f"unknown source kind {kind!r}; expected one of {sorted(SOURCE_KINDS)}"
        ) from None
    module, _, attr = target.partition(":")
    cls: type[Source] = getattr(importlib.import_module(module), attr)
    return cls


def options_model_for(kind: str) -> type[SourceOptions]:
    """The pydantic model validating a kind's ``options`` block."""
    return source_class(kind).options_model


def build_source(
    name: str, kind: str, options: dict[str, Any], *, channel: str | None, timezone: str
) -> Source:
    """Instantiate a configured source, validating its options."""
    cls = source_class(kind)
    return cls(name, cls.options_model.model_validate(options), channel=channel, timezone=timezone)
