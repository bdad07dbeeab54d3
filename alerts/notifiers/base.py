"""The notifier interface: one :class:`Notification` in, delivered or :class:`DeliveryError` out.

Every channel (``webhook.py``, ``wecom.py``, ``dingtalk.py``, ``feishu.py``, ``smtp.py``) subclasses
:class:`Notifier` and overrides :meth:`Notifier.send`. Notifiers hold no state between sends and
never touch the database: the outbox (``alerts/outbox.py``) decides when to call them and what
to do when they fail.

Errors::

    DeliveryError            the message did not get through; the outbox retries it with back-off
    └── NotifierConfigError  the notifier cannot be built (missing secret, unknown kind)

Every message carries an idempotency key (header ``Idempotency-Key`` for HTTP channels, the
``Message-ID`` for e-mail, and ``idempotency_key`` in the generic JSON body) so that a receiver
can drop the one duplicate a crash between "sent" and "recorded as sent" may cause.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import httpx

from kernel.settings import NotifierSettings

log = logging.getLogger(__name__)

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class DeliveryError(Exception):
    """A notification was not delivered (network error, non-2xx status, robot error code)."""


class NotifierConfigError(DeliveryError):
    """The notifier is misconfigured (unknown kind, unresolvable secret)."""


@dataclass(frozen=True)
class Notification:
    """One message to duty staff, possibly covering several related alerts.

    Attributes:
        idempotency_key: unique per notification; receivers drop repeats of the same key.
        title: one-line plain-Chinese headline.
        text: the full plain-text body (e-mail, Feishu, generic webhook).
        markdown: the same body as Markdown (WeCom, DingTalk); untrusted text is neutralised.
        severity: info | warning | critical (the highest of the grouped alerts).
        link: dashboard page of the first alert.
        alerts: structured summary of every grouped alert (id, rule, key, numbers, documents).
        created_at: ISO time the notification was queued.
    """

    idempotency_key: str
    title: str
    text: str
    markdown: str
    severity: str
    link: str
    alerts: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = ""

    def to_payload(self) -> dict[str, Any]:
        """The JSON stored in the outbox row."""
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Notification:
        """Rebuild a notification from its outbox row (unknown keys are ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in payload.items() if k in names})


class Notifier(ABC):
    """A delivery channel configured by one ``alerts.notifiers`` entry.

    Args:
        settings: the notifier's configuration section.
        client: HTTP client to use (tests inject one); a short-lived one is created otherwise.
    """

    kind: ClassVar[str]

    def __init__(self, settings: NotifierSettings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self._client = client

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver ``notification`` once.

        Raises:
            DeliveryError: when the receiver did not accept it; the caller retries later.
        """

    def post_json(
        self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST ``body`` as UTF-8 JSON; transport errors and non-2xx statuses become DeliveryError."""
        import json

        content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        return self.post_bytes(url, content, headers)

    def post_bytes(self, url: str, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        """POST raw bytes with a JSON content type (used when the body must be signed as sent)."""
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        try:
            if self._client is not None:
                resp = self._client.post(url, content=content, headers=all_headers)
            else:
                with httpx.Client(timeout=HTTP_TIMEOUT) as client:
                    resp = client.post(url, content=content, headers=all_headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        if not resp.is_success:
            raise DeliveryError(f"{self.name}: HTTP {resp.status_code}: {resp.text[:200]}")
        return resp

    def check_robot_reply(self, resp: httpx.Response, code_keys: tuple[str, ...]) -> None:
        """Robot APIs answer HTTP 200 with an error code in the body: 0 means accepted."""
        try:
            data = resp.json()
        except ValueError as exc:
            raise DeliveryError(f"{self.name}: reply is not JSON: {resp.text[:200]}") from exc
        for key in code_keys:
            if key in data:
                if data[key] not in (0, "0"):
                    raise DeliveryError(f"{self.name}: robot refused ({key}={data[key]}): {str(data)[:200]}")
                return
        raise DeliveryError(f"{self.name}: reply has no status code: {str(data)[:200]}")
