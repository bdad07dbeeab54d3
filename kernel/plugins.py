"""The one extension mechanism: Python entry points, as pytest and datasette load their plugins.

Every family a user may extend has an entry-point group; the built-ins are registered in this
project's ``pyproject.toml`` through the same groups, so a third-party package adds a source kind,
a notifier, a rule kind or a command by declaring an entry point, without editing this repository::

    [project.entry-points."minsheng.sources"]
    intranet_forum = "my_package.forum:ForumSource"

Names are read from the installed distributions' metadata without importing anything, so the
settings can validate ``kind`` keys at start-up while staying the bottom layer; the object behind a
name is imported only when :func:`load` is called.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Any

SOURCES = "minsheng.sources"
NOTIFIERS = "minsheng.notifiers"
RULES = "minsheng.rules"
COMMANDS = "minsheng.commands"
GROUPS = (SOURCES, NOTIFIERS, RULES, COMMANDS)


class UnknownPluginError(KeyError):
    """No installed package registers this name in the group."""

    def __str__(self) -> str:  # KeyError quotes its argument; say it plainly
        return str(self.args[0])


@functools.cache
def _registered(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep)  # the first distribution on sys.path wins, as for imports
    return found


def names(group: str) -> list[str]:
    """The sorted names registered in ``group`` by every installed distribution."""
    return sorted(_registered(group))


def target(group: str, name: str) -> str:
    """The ``module:attr`` reference registered for ``name`` (raises :class:`UnknownPluginError`)."""
    try:
        return _registered(group)[name].value
    except KeyError:
        kind = group.rsplit(".", 1)[-1].rstrip("s")
        raise UnknownPluginError(f"unknown {kind} kind {name!r}; expected one of {names(group)}") from None


def load(group: str, name: str) -> Any:
    """Import and return the object registered for ``name`` in ``group``."""
    return load_reference(target(group, name))


def load_reference(reference: str) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted) and return the attribute."""
    module, _, attr = reference.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def refresh() -> None:
    """Forget what was read from the metadata (after installing a package in this process)."""
    _registered.cache_clear()
