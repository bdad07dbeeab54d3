"""``sensing process`` (tag the backlog once) and ``sensing worker`` (tag documents as they arrive)."""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

import click

from nlp.jobs import build_tagger, tag_batch
from sensing.app import App, pass_app
from sensing.subject_matching import SubjectMatching

log = logging.getLogger("nlp.jobs")  # the worker's log lines keep the name operators filter on


@click.command("process")
@click.option("--limit", type=int, default=None, help="Tag at most this many documents.")
@click.option(
    "--history",
    is_flag=True,
    help="Also fit topics on sliding windows over the whole archive (resumes an unfinished run).",
)
@pass_app
def process_cmd(app: App, limit: int | None, history: bool) -> None:
    """Tag every untagged (or outdated) document once, score replies, then refresh the rollups.

    With --history every first copy of the archive also gets a topic, window by window from the
    oldest document to the newest, with topic ids kept across windows; a killed run continues.
    """
    from rich.progress import Progress

    from sensing.jobs import score_replies
    from storage.backlog import count_backlog
    from storage.rollups.refresh import refresh_rollups

    tagger = build_tagger(app.settings)
    subjects = SubjectMatching(app.engine)
    total = count_backlog(app.engine, tagger.version)
    if limit is not None:
        total = min(total, limit)
    start = time.perf_counter()
    done = 0
    with (
        app.store.job_run("nlp.process" + (".history" if history else "")) as counts,
        Progress(transient=True) as progress,
    ):
        task = progress.add_task("tagging", total=total)
        while done < total:
            size = min(app.settings.nlp.batch_size, total - done)
            n = tag_batch(app.engine, tagger, size, on_tagged=subjects)
            if n == 0:
                break
            done += max(n, 0)
            progress.update(task, advance=max(n, 0))
        counts["tagged"] = done
        counts["subject_matches"] = subjects.matched
        if history:
            from nlp.history_topics import fit_history_topics

            windows = progress.add_task("topics over the archive", total=None)

            def on_window(finished: int, steps: int) -> None:
                progress.update(windows, completed=finished, total=steps)

            topics = fit_history_topics(app.engine, app.settings, on_window=on_window)
            counts.update({f"history_{k}": v for k, v in topics.items()})
        counts["replies_scored"] = score_replies(app.engine, app.settings)
        progress.add_task("refreshing rollups", total=None)
        counts.update(
            refresh_rollups(
                app.engine, tz=app.settings.app.timezone, low_confidence=app.settings.nlp.low_confidence
            )
        )
    secs = time.perf_counter() - start
    click.echo(
        f"tagged {done} documents in {secs:.1f}s ({done / max(secs, 1e-9):.0f} docs/s), version {tagger.version}"
    )
    click.echo(f"scored {counts['replies_scored']} replies")
    if history:
        click.echo(
            f"topics over the archive: {counts['history_windows']} windows "
            f"({counts['history_resumed_at']} done before), {counts['history_assigned']} of "
            f"{counts['history_documents']} first copies in a topic, {counts['history_topics']} current topics"
        )


@click.command("worker")
@click.option("--once", is_flag=True, help="Drain the backlog once and exit.")
@pass_app
def worker_cmd(app: App, once: bool) -> None:
    """Run the NLP worker: tag new documents as they arrive (several may run on PostgreSQL)."""
    stop = {"flag": False}

    def _stop(*_: Any) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    tagger = build_tagger(app.settings)
    subjects = SubjectMatching(app.engine)
    log.info("nlp worker started", extra={"version": tagger.version})
    cfg = app.settings.nlp
    while not stop["flag"]:
        try:
            n = tag_batch(app.engine, tagger, cfg.batch_size, on_tagged=subjects)
        except Exception:  # a bad batch must not kill the worker; it is logged and retried
            log.exception("tagging batch failed")
            n = 0
            time.sleep(cfg.worker_idle_seconds)
        if n:
            if n > 0:
                log.info("tagged batch", extra={"documents": n})
            continue
        if once:
            break
        deadline = time.monotonic() + cfg.worker_idle_seconds
        while not stop["flag"] and time.monotonic() < deadline:
            time.sleep(0.2)
    log.info("nlp worker stopped")
