"""Generic JSON webhook, signed with HMAC-SHA256 so the receiver can verify where it came from.

Body: the :class:`~alerts.notifiers.base.Notification` as JSON (UTF-8). Headers:

* ``Idempotency-Key``: the notification's key; a receiver drops a repeat of a key it has seen.
* ``X-Minsheng-Timestamp``: Unix seconds when the request was signed.
* ``X-Minsheng-Signature``: ``sha256=`` + hex HMAC-SHA256 of ``"{timestamp}." + body`` with the
  notifier's secret (only when ``secret`` is configured). Receivers should also reject stale
  timestamps to stop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from alerts.notifiers.base import Notification, Notifier, NotifierConfigError
from kernel.settings import resolve_secret

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Minsheng-Signature"
TIMESTAMP_HEADER = "X-Minsheng-Timestamp"


def sign_body(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier(Notifier):
    """POST the notification as JSON to ``url``."""

    kind = "webhook"

    def send(self, notification: Notification) -> None:
        assert self.settings.url is not None  # guaranteed by NotifierSettings
        body = json.dumps(notification.to_payload(), ensure_ascii=False).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Idempotency-Key": notification.idempotency_key, TIMESTAMP_HEADER: timestamp}
        if self.settings.secret:
            secret = resolve_secret(self.settings.secret)
            if not secret:
                raise NotifierConfigError(f"{self.name}: secret {self.settings.secret} is not set")
            headers[SIGNATURE_HEADER] = sign_body(secret, timestamp, body)
        self.post_bytes(self.settings.url, body, headers)
