"""``sensing ingest`` (run collectors once) and ``sensing import`` (bulk-load a file)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from ingest.base import FatalSourceError
from ingest.file_import import FileImportSource, inspect_file
from ingest.pipeline import Ingestor
from ingest.presets import PRESETS
from ingest.runner import author_key, ingest_sources
from sensing.app import App, pass_app

log = logging.getLogger(__name__)


@click.command("ingest")
@click.option(
    "--source", "names", multiple=True, help="Run only this source (repeatable); default: all enabled."
)
@pass_app
def ingest_cmd(app: App, names: tuple[str, ...]) -> None:
    """Run the configured collectors once and print one line per source."""
    try:
        reports = ingest_sources(app.settings, app.store, list(names) or None)
    except KeyError as exc:
        raise click.UsageError(str(exc).strip("'\"")) from None
    for report in reports:
        click.echo(report.summary())
    new = sum(r.new for r in reports)
    failed = [r.source for r in reports if r.status == "failed"]
    click.echo(
        f"ingest: {len(reports)} source(s), {sum(r.fetched for r in reports)} fetched, {new} new, "
        f"{sum(r.duplicates for r in reports)} already stored, {sum(r.n_skipped for r in reports)} skipped"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    if reports and len(failed) == len(reports):
        raise SystemExit(1)


def _progress_bar() -> object:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[records]} records"),
        TimeRemainingColumn(),
        transient=False,
    )


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--source", "source_name", required=True, help="Source to import into (created if not configured)."
)
@click.option(
    "--mapping",
    "preset",
    type=click.Choice(sorted(PRESETS)),
    default=None,
    help="Column mapping preset; detected from the file's columns when omitted.",
)
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
@pass_app
def import_cmd(
    app: App, file: Path, source_name: str, preset: str | None, batch_size: int, no_progress: bool
) -> None:
    """Bulk-load FILE (CSV, XLSX, JSON or JSON Lines; .gz too) into source NAME.

    A generic file needs a `content` (or `text`) column; `id`, `title`, `published_at`, `url`,
    `author` and engagement columns are used when present. Known shapes (TIPDM 问政, Weibo hot
    search) are recognised from their columns. Re-running a finished import changes nothing; an
    interrupted one resumes where it stopped. Reading is bounded by the `imports` settings: a file
    over a limit as a whole (a gzip bomb) is refused before anything is stored, a row over one
    (an over-long field) is skipped and named, and an unclosed CSV quote refuses the file from
    its line on; every refusal names the file and line and exits non-zero.
    """
    try:
        _columns, detected, preset_channel = inspect_file(file, preset, app.settings.imports)
    except FatalSourceError as exc:
        message = str(exc)
        raise click.UsageError(
            message if message.startswith(f"{file.name}:") else f"{file.name}: {message}"
        ) from None
    configured = next((s for s in app.settings.sources if s.name == source_name), None)
    kind = configured.kind if configured else "file_import"
    channel = (configured.channel if configured else None) or preset_channel
    timezone = configured.timezone if configured else app.settings.app.timezone
    options = FileImportSource.options_model.model_validate(
        {"path": str(file), "preset": detected, "batch_size": batch_size}
    )
    source = FileImportSource(source_name, options, channel=channel, timezone=timezone)
    source.limits = app.settings.imports
    ingestor = Ingestor(app.store, author_key=author_key(app.settings, [(source_name, kind)]))
    click.echo(
        f"importing {file.name} into source {source_name!r} with mapping {detected}"
        + ("" if preset else " (detected)")
    )
    started = time.monotonic()
    if no_progress:
        report = ingestor.run(source, kind=kind)
    else:
        progress = _progress_bar()
        with progress:  # type: ignore[attr-defined]
            task = progress.add_task(file.name, total=None, records=0)  # type: ignore[attr-defined]

            def update(position: int, total: int, records: int) -> None:
                progress.update(task, completed=position, total=total or None, records=records)  # type: ignore[attr-defined]

            source.on_progress = update
            report = ingestor.run(source, kind=kind)
    elapsed = time.monotonic() - started
    for problem in source.problems:
        click.echo(f"  skipped {problem}", err=True)
    if source.n_problems > len(source.problems):
        click.echo(f"  ... and {source.n_problems - len(source.problems)} more rows skipped", err=True)
    if source.refused:
        click.echo(f"  refused {source.refused}", err=True)
    if source.already_done:
        click.echo(f"{file.name} was already imported into {source_name!r}; nothing to do")
        return
    rate = report.fetched / elapsed if elapsed > 0 else 0.0
    resumed = f", resumed after record {source.resumed_from}" if source.resumed_from else ""
    click.echo(
        f"import {file.name} -> {source_name}: {report.status}; {report.fetched} records read{resumed}, "
        f"{report.new} new ({report.exact_copies + report.near_copies} linked as copies), "
        f"{report.duplicates} already stored, {report.n_skipped} skipped, {report.errors} errors "
        f"in {elapsed:.1f} s ({rate:,.0f} records/s)" + (f"; error: {report.error}" if report.error else "")
    )
    if report.status == "failed" or source.refused:
        raise SystemExit(1)
