"""Running configured sources: build each from settings, run it through one :class:`Ingestor`.

:func:`ingest_sources` is what ``sensing ingest`` and the scheduler call. A failing source gets a
``failed`` health row and the next source still runs. :func:`shared_ingestor` keeps one ingestor
per engine for the life of the process, so the near-duplicate index is warmed once, not on every
scheduled run.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Engine

from ingest.base import Source
from ingest.pipeline import Ingestor, RunReport
from ingest.read_limits import ReadsFiles
from ingest.registry import build_source, is_simulated_kind
from kernel.errors import describe_error
from kernel.settings import ConfigError, Settings, SourceSettings, resolve_secret
from storage.store import Store

log = logging.getLogger(__name__)

# Serves only simulated sources (the demo): everybody can read it here, so it protects nobody.
DEV_AUTHOR_KEY = "minsheng-development-author-key-not-for-production"
_SHARED: weakref.WeakKeyDictionary[Engine, Ingestor] = weakref.WeakKeyDictionary()


def check_author_key(settings: Settings, sources: Iterable[tuple[str, str]] | None = None) -> str | None:
    """The resolved ``app.author_hash_key``, or None when it is unset and only simulated sources run.

    A start-up check for every command that collects data: author ids are hashed with this key,
    and a key everybody knows (the built-in demo key) would let anyone re-identify authors.

    Args:
        settings: The loaded settings.
        sources: ``(name, kind)`` of the sources about to run; default: every enabled source.

    Raises:
        ConfigError: naming ``app.author_hash_key`` when a non-simulated source would run without it.
    """
    key = resolve_secret(settings.app.author_hash_key)
    if key:
        return key
    pairs = [(s.name, s.kind) for s in settings.sources if s.enabled] if sources is None else sources
    real = sorted({name for name, kind in pairs if not is_simulated_kind(kind)})
    if not real:
        return None
    ref = settings.app.author_hash_key
    unset = f"{ref} is unset or empty" if ref else "it is not set"
    raise ConfigError(
        [
            f"{settings.origin}: app.author_hash_key: required to hash author ids of non-simulated sources "
            f"({', '.join(real)}), but {unset}; point it at a long random secret ($env:NAME or $file:PATH). "
            "The built-in key serves only the demo's simulated data"
        ]
    )


def author_key(settings: Settings, sources: Sequence[tuple[str, str]] | None = None) -> str:
    """The author-hashing key from ``app.author_hash_key``; the built-in key for simulated data only.

    Args:
        settings: The loaded settings.
        sources: ``(name, kind)`` of the sources the key will serve; default: every enabled source.

    Raises:
        ConfigError: the key is unset and a non-simulated source is among ``sources``.
    """
    key = check_author_key(settings, sources)
    if key:
        return key
    log.info("app.author_hash_key is unset: simulated sources only, hashed with the built-in demo key")
    return DEV_AUTHOR_KEY


def configured_source(settings: Settings, src: SourceSettings) -> Source:
    """Build one configured source through :func:`ingest.registry.build_source`."""
    source = build_source(
        src.name,
        src.kind,
        src.options,
        channel=src.channel,
        timezone=src.timezone,
        data_dir=settings.app.data_dir,
    )
    if isinstance(source, ReadsFiles):
        source.limits = settings.imports
    return source


def make_ingestor(
    settings: Settings, store: Store, sources: Sequence[SourceSettings] | None = None
) -> Ingestor:
    """An ingestor hashing authors with the key ``sources`` (default: the enabled ones) need."""
    pairs = None if sources is None else [(s.name, s.kind) for s in sources]
    return Ingestor(store, author_key=author_key(settings, pairs))


def shared_ingestor(
    settings: Settings, store: Store, sources: Sequence[SourceSettings] | None = None
) -> Ingestor:
    """One ingestor per engine for this process (its near-duplicate index stays warm)."""
    ingestor = _SHARED.get(store.engine)
    if ingestor is None:
        ingestor = make_ingestor(settings, store, sources)
        _SHARED[store.engine] = ingestor
    return ingestor


def select_sources(settings: Settings, names: Sequence[str] | None) -> list[SourceSettings]:
    """The named sources (enabled or not), or every enabled source when ``names`` is empty.

    Raises:
        KeyError: a name that is not configured.
    """
    if not names:
        return [s for s in settings.sources if s.enabled]
    known = {s.name: s for s in settings.sources}
    missing = [n for n in names if n not in known]
    if missing:
        raise KeyError(f"no configured source named {', '.join(missing)}; configured: {sorted(known)}")
    return [known[n] for n in names]


def run_one(settings: Settings, store: Store, src: SourceSettings, ingestor: Ingestor) -> RunReport:
    """Run one configured source; a source that cannot even be built gets a failed health row."""
    try:
        if ingestor.author_key == DEV_AUTHOR_KEY:  # the built-in key never hashes real authors
            check_author_key(settings, [(src.name, src.kind)])
        source = configured_source(settings, src)
    except Exception as exc:  # noqa: BLE001 - recorded as this source's failure
        log.exception("source %s cannot be built", src.name)
        source_id = store.ensure_source(src.name, src.kind, src.channel)
        report = RunReport(source=src.name, status="failed", errors=1, error=describe_error(exc))
        report.run_id = store.start_ingest_run(source_id)
        store.finish_ingest_run(report.run_id, status="failed", errors=1, error=report.error, skip_reasons={})
        return report
    try:
        return ingestor.run(source, kind=src.kind)
    finally:
        source.close()


def ingest_sources(
    settings: Settings, store: Store, names: Sequence[str] | None = None, *, ingestor: Ingestor | None = None
) -> list[RunReport]:
    """Run the selected sources once, one after the other; never raises a source's error.

    Raises:
        ConfigError: a selected non-simulated source needs ``app.author_hash_key`` and it is unset.
    """
    selected = select_sources(settings, names)
    ingestor = ingestor or shared_ingestor(settings, store, selected)
    return [run_one(settings, store, src, ingestor) for src in selected]


def start_webhook_servers(settings: Settings) -> list[Any]:
    """Start the receiving endpoint of every enabled ``webhook`` source in a background thread.

    For the process supervisor: pushed items are spooled by these servers and stored by the
    source's scheduled ``ingest`` job. Returns the servers (call ``stop()`` on shutdown).
    """
    from ingest.sources.webhook import WebhookSource
    from ingest.sources.webhook_server import WebhookServer

    servers = []
    for src in settings.sources:
        if src.enabled and src.kind == WebhookSource.kind:
            source = configured_source(settings, src)
            assert isinstance(source, WebhookSource)
            server = WebhookServer(source).start()
            log.info("webhook source %s listening on %s", src.name, server.url)
            servers.append(server)
    return servers
