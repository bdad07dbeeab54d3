"""Delivery channels, one module per technology; :func:`build_notifier` picks one by ``kind``.

Kinds are the ``minsheng.notifiers`` entry points (:mod:`kernel.plugins`): a channel is a module
plus one line in ``pyproject.toml``, here or in another installed package.
"""

from __future__ import annotations

import httpx

from alerts.notifiers.base import DeliveryError, Notification, Notifier, NotifierConfigError
from kernel import plugins
from kernel.settings import NotifierSettings


def build_notifier(settings: NotifierSettings, client: httpx.Client | None = None) -> Notifier:
    """The notifier for one ``alerts.notifiers`` entry, by its ``kind`` in the ``minsheng.notifiers`` entry points.

    Raises:
        NotifierConfigError: for a kind no installed package registers.
    """
    try:
        cls: type[Notifier] = plugins.load(plugins.NOTIFIERS, settings.kind)
    except plugins.UnknownPluginError as exc:
        raise NotifierConfigError(str(exc)) from None
    return cls(settings, client)


__all__ = [
    "DeliveryError",
    "Notification",
    "Notifier",
    "NotifierConfigError",
    "build_notifier",
]
