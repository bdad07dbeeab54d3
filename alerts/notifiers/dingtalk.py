"""DingTalk (钉钉) custom robot: Markdown message, signed per the robot's "加签" spec.

Signing: ``string_to_sign = f"{timestamp}\\n{secret}"`` with ``timestamp`` in milliseconds;
``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=string_to_sign)))``; both are appended to
the webhook URL as ``&timestamp=...&sign=...``. DingTalk rejects timestamps more than an hour
off, so the signature is computed at send time, never stored. The robot answers HTTP 200 with
``errcode`` 0 when it accepted the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from urllib.parse import quote_plus

from alerts.notifiers.base import Notification, Notifier, NotifierConfigError
from kernel.settings import resolve_secret

log = logging.getLogger(__name__)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The URL-encoded ``sign`` parameter for ``timestamp_ms``."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


class DingtalkNotifier(Notifier):
    """Send to a DingTalk group robot."""

    kind = "dingtalk"

    def signed_url(self, timestamp_ms: int | None = None) -> str:
        """The webhook URL, with ``timestamp`` and ``sign`` when a secret is configured."""
        assert self.settings.url is not None
        if not self.settings.secret:
            return self.settings.url
        secret = resolve_secret(self.settings.secret)
        if not secret:
            raise NotifierConfigError(f"{self.name}: secret {self.settings.secret} is not set")
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        sep = "&" if "?" in self.settings.url else "?"
        return f"{self.settings.url}{sep}timestamp={ts}&sign={dingtalk_sign(secret, ts)}"

    def send(self, notification: Notification) -> None:
        body = {
            "msgtype": "markdown",
            "markdown": {"title": notification.title, "text": notification.markdown},
        }
        resp = self.post_json(self.signed_url(), body, {"Idempotency-Key": notification.idempotency_key})
        self.check_robot_reply(resp, ("errcode",))
