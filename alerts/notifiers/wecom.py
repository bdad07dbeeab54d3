"""WeCom (企业微信) group robot: Markdown message to the robot's webhook.

The robot is addressed by the ``key`` query parameter of its webhook URL. The key may be kept out
of config.yaml: give ``url`` without it and ``secret: $env:NAME`` holding the key. The robot
answers HTTP 200 with ``errcode`` 0 when it accepted the message; Markdown content is limited to
4096 bytes, so longer bodies are cut at a character boundary.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from alerts.notifiers.base import Notification, Notifier, NotifierConfigError
from kernel.settings import resolve_secret

log = logging.getLogger(__name__)

MAX_MARKDOWN_BYTES = 4096


def truncate_utf8(text: str, limit: int) -> str:
    """Cut ``text`` so its UTF-8 encoding fits in ``limit`` bytes (with an ellipsis when cut)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "…"


class WecomNotifier(Notifier):
    """Send to a WeCom group robot."""

    kind = "wecom"

    def target_url(self) -> str:
        """The webhook URL with the robot key (from ``secret``) added when the URL lacks it."""
        assert self.settings.url is not None
        parts = urlsplit(self.settings.url)
        query = parse_qs(parts.query)
        if "key" not in query and self.settings.secret:
            key = resolve_secret(self.settings.secret)
            if not key:
                raise NotifierConfigError(f"{self.name}: robot key {self.settings.secret} is not set")
            extra = urlencode({"key": key})
            return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))
        return self.settings.url

    def send(self, notification: Notification) -> None:
        body = {
            "msgtype": "markdown",
            "markdown": {"content": truncate_utf8(notification.markdown, MAX_MARKDOWN_BYTES)},
        }
        resp = self.post_json(self.target_url(), body, {"Idempotency-Key": notification.idempotency_key})
        self.check_robot_reply(resp, ("errcode",))
