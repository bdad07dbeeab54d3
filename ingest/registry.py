"""Source kinds: the ``minsheng.sources`` entry points (:mod:`kernel.plugins`), imported when used.

:func:`build_source` is the one way a source is constructed, in production and in tests alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.base import Source, SourceOptions
from ingest.clean import detect_channel
from kernel import plugins
from kernel.plugins import UnknownPluginError as UnknownSourceKindError


def source_class(kind: str) -> type[Source]:
    """Return the class implementing ``kind`` (raises :class:`UnknownSourceKindError`)."""
    cls: type[Source] = plugins.load(plugins.SOURCES, kind)
    return cls


def is_simulated_kind(kind: str) -> bool:
    """True for kinds that make up their items (the demo); unknown kinds (file imports) are real."""
    return kind in plugins.names(plugins.SOURCES) and source_class(kind).simulated


def options_model_for(kind: str) -> type[SourceOptions]:
    """The pydantic model validating a kind's ``options`` block."""
    return source_class(kind).options_model


def build_source(
    name: str,
    kind: str,
    options: dict[str, Any],
    *,
    channel: str | None,
    timezone: str,
    data_dir: str | Path = "var",
) -> Source:
    """Instantiate a configured source, validating its options.

    Options a kind derives from the application (``app_defaults``: spool and drop folders under
    ``data_dir``) fill in what the configuration leaves out; with no configured channel, the channel
    is guessed from the URL and the source name.
    """
    cls = source_class(kind)
    merged: dict[str, Any] = dict(options)
    app_defaults = getattr(cls, "app_defaults", None)
    if app_defaults is not None:
        for key, value in app_defaults(name, str(data_dir)).items():
            merged.setdefault(key, value)
    channel = channel or detect_channel(merged.get("url"), hints=[name])
    return cls(name, cls.options_model.model_validate(merged), channel=channel, timezone=timezone)


__all__ = ["UnknownSourceKindError", "build_source", "options_model_for", "source_class"]
