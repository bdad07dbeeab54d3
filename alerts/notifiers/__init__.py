"""Delivery channels, one module per technology; :func:`build_notifier` picks one by ``kind``.

The table below is the whole registry: adding a channel means adding a module and a line here.
"""

from __future__ import annotations

import importlib

import httpx

from alerts.notifiers.base import DeliveryError, Notification, Notifier, NotifierConfigError
from sensing.settings import NotifierSettings

NOTIFIER_KINDS: dict[str, str] = {
    "webhook": "alerts.notifiers.webhook:WebhookNotifier",
    "wecom": "alerts.notifiers.wecom:WecomNotifier",
    "dingtalk": "alerts.notifiers.dingtalk:DingtalkNotifier",
    "feishu": "alerts.notifiers.feishu:FeishuNotifier",
    "smtp": "alerts.notifiers.smtp:SmtpNotifier",
}


def build_notifier(settings: NotifierSettings, client: httpx.Client | None = None) -> Notifier:
    """The notifier for one ``alerts.notifiers`` entry.

    Raises:
        NotifierConfigError: for a kind not in :data:`NOTIFIER_KINDS`.
    """
    target = NOTIFIER_KINDS.get(settings.kind)
    if target is None:
        raise NotifierConfigError(
            f"unknown notifier kind {settings.kind!r}; expected one of {sorted(NOTIFIER_KINDS)}"
        )
    module, _, attr = target.partition(":")
    cls: type[Notifier] = getattr(importlib.import_module(module), attr)
    return cls(settings, client)


__all__ = [
    "DeliveryError",
    "NOTIFIER_KINDS",
    "Notification",
    "Notifier",
    "NotifierConfigError",
    "build_notifier",
]
