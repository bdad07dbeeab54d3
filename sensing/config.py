"""Start-up validation that needs the extensions: each source's options and each keyword expression.

:func:`kernel.settings.load_settings` checks everything the bottom layer can (types, keys, kinds that
some installed package registers); :func:`load_config` then imports what the configuration names and
checks the rest, so every command fails at start-up with the file and key path at fault.
"""

from __future__ import annotations

import os

from pydantic import ValidationError

from analytics.watchlist import compile_expression
from ingest.registry import options_model_for
from kernel.settings import ConfigError, Settings, config_path, load_settings


def extension_problems(settings: Settings, origin: str) -> list[str]:
    """One message per option block or expression the installed extensions refuse."""
    problems: list[str] = []
    for i, src in enumerate(settings.sources):
        try:
            options_model_for(src.kind).model_validate(src.options)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc = ".".join(str(p) for p in err["loc"])
                key = f"sources.{i}.options" + (f".{loc}" if loc else "")
                msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
                problems.append(f"{origin}: {key}: {msg.removeprefix('Value error, ')}")
    for i, rule in enumerate(settings.alerts.rules):
        if rule.kind == "keyword" and rule.expression:
            try:
                compile_expression(rule.expression)
            except ValueError as exc:
                problems.append(
                    f"{origin}: alerts.rules.{i}.expression: a boolean keyword expression ({exc})"
                )
    return problems


def load_config(
    path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Load, validate and check the configuration against the installed extensions.

    Raises:
        ConfigError: with one message per problem, naming the file and key path.
    """
    settings = load_settings(path, environ)
    problems = extension_problems(settings, str(config_path(path, environ)))
    if problems:
        raise ConfigError(problems)
    return settings


__all__ = ["extension_problems", "load_config"]
