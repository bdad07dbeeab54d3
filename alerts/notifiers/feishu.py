"""Feishu (飞书) custom robot: text message, signed per the robot's "签名校验" spec.

Signing: ``string_to_sign = f"{timestamp}\\n{secret}"`` with ``timestamp`` in seconds;
``sign = base64(HMAC-SHA256(key=string_to_sign, msg=b""))`` (the string is the key, the message
is empty, unlike DingTalk). ``timestamp`` and ``sign`` go into the JSON body. The robot answers
with ``code`` 0 (older deployments: ``StatusCode`` 0) when it accepted the message; the body may
not exceed 20 KB, so the text is cut well below that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from typing import Any

from alerts.notifiers.base import Notification, Notifier, NotifierConfigError
from alerts.notifiers.wecom import truncate_utf8
from kernel.settings import resolve_secret

log = logging.getLogger(__name__)

MAX_TEXT_BYTES = 18_000


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """The ``sign`` field for ``timestamp_s``."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


class FeishuNotifier(Notifier):
    """Send to a Feishu group robot."""

    kind = "feishu"

    def body(self, notification: Notification, timestamp_s: int | None = None) -> dict[str, Any]:
        """The request body, signed when a secret is configured."""
        text = truncate_utf8(f"{notification.title}\n\n{notification.text}", MAX_TEXT_BYTES)
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
        if self.settings.secret:
            secret = resolve_secret(self.settings.secret)
            if not secret:
                raise NotifierConfigError(f"{self.name}: secret {self.settings.secret} is not set")
            ts = int(time.time()) if timestamp_s is None else timestamp_s
            body = {"timestamp": str(ts), "sign": feishu_sign(secret, ts), **body}
        return body

    def send(self, notification: Notification) -> None:
        assert self.settings.url is not None
        resp = self.post_json(
            self.settings.url, self.body(notification), {"Idempotency-Key": notification.idempotency_key}
        )
        self.check_robot_reply(resp, ("code", "StatusCode"))
