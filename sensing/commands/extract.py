"""``sensing extract PAGE.html``: the ``web`` collector's extraction on one saved page."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ingest.sources.web import WebOptions
from ingest.web.decode import UndecodableError, decode_html
from ingest.web.extract import Overrides, extract_article


@click.command("extract")
@click.argument("page", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--url", default=None, help="The page's address (resolves relative attachment links).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--tz", default="Asia/Shanghai", show_default=True, help="Time zone of dates without one.")
@click.option("--encoding", default=None, help="Force this charset (default: header-less detection).")
@click.option(
    "--source", "source_name", default=None, help="Use this configured web source's overrides and zone."
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file, read only with --source (default: $SENSING_CONFIG or ./config.yaml).",
)
@click.pass_context
def extract_cmd(
    ctx: click.Context,
    page: Path,
    url: str | None,
    as_json: bool,
    tz: str,
    encoding: str | None,
    source_name: str | None,
    config: str | None,
) -> None:
    """Extract title, publication time, author and text from one saved article page.

    Exactly the extraction the `web` source uses; its per-site overrides too with --source. With
    --json it prints {"title", "published" (ISO 8601 in --tz, or null), "author", "text",
    "attachments", "charset"}.
    """
    overrides = None
    if source_name:
        tz, overrides, encoding = _from_source(
            config or ctx.meta.get("sensing.config"), source_name, encoding
        )
    try:
        decoded = decode_html(page.read_bytes(), forced=encoding)
    except UndecodableError as exc:
        raise click.ClickException(f"{page}: {exc}") from None
    article = extract_article(decoded.text, url=url, tz=tz, overrides=overrides)
    record = {**article.as_json(tz), "charset": decoded.charset}
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False))
        return
    click.echo(f"标题: {record['title'] or ''}")
    click.echo(f"时间: {record['published'] or ''}")
    click.echo(f"作者/来源: {record['author'] or ''}")
    for attachment in record["attachments"]:
        click.echo(f"附件: {attachment['title']} <{attachment['url']}>")
    click.echo("")
    click.echo(record["text"])


def _from_source(config: str | None, name: str, encoding: str | None) -> tuple[str, Overrides, str | None]:
    from kernel.settings import ConfigError, load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException("; ".join(exc.problems)) from None
    for source in settings.sources:
        if source.name == name:
            if source.kind != "web":
                raise click.UsageError(f"source {name!r} is a {source.kind} source, not web")
            options = WebOptions.model_validate(source.options)
            return source.timezone, options.overrides, encoding or options.encoding
    raise click.UsageError(f"no source named {name!r} in the configuration")
