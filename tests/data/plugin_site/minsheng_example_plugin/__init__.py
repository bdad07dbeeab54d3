"""A third-party Minsheng extension, installed beside it: a source kind, a notifier and a command.

It lives outside the project's packages and is found only through its distribution's entry points
(``minsheng_example_plugin-0.1.dist-info/entry_points.txt``), as a package installed with pip is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import click

from alerts.notifiers.base import Notification, Notifier
from ingest.base import FetchBatch, RawItem, Source, SourceOptions


class BulletinOptions(SourceOptions):
    """Options of the example source: the bulletin lines to publish."""

    lines: list[str] = []


class BulletinSource(Source):
    """Yields one item per configured line, once (the cursor remembers how many it gave)."""

    kind: ClassVar[str] = "bulletin_board"
    options_model = BulletinOptions
    default_channel = "gov"

    def fetch(self, cursor: dict[str, Any]) -> Iterator[FetchBatch]:
        assert isinstance(self.options, BulletinOptions)
        start = int(cursor.get("done", 0))
        items = [
            RawItem(external_id=f"line-{i}", content=text)
            for i, text in enumerate(self.options.lines[start:], start=start)
        ]
        if items:
            yield FetchBatch(items=items, cursor={"done": start + len(items)})


class PlainTextNotifier(Notifier):
    """POSTs the notification's plain text (not JSON) to ``url``."""

    kind = "plain_text"

    def send(self, notification: Notification) -> None:
        assert self.settings.url is not None
        self.post_bytes(self.settings.url, notification.text.encode("utf-8"), {"Content-Type": "text/plain"})


@click.command("hello")
def hello_cmd() -> None:
    """Say hello from the example plugin."""
    click.echo("hello from minsheng_example_plugin")
