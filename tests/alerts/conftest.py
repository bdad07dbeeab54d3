"""Alert test helpers: the app and config builders (the HTTP and SMTP receivers are in tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine

from kernel.settings import Settings
from sensing.app import App

NOW = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)  # 14:30 Beijing time


def make_app(engine: Engine, alerts: dict[str, Any], **extra: Any) -> App:
    """An App on ``engine`` with the given ``alerts`` section."""
    settings = Settings.model_validate({"alerts": alerts, **extra})
    return App(settings=settings, _engine=engine)


def write_config(tmp_path: Path, db_url: str, alerts: dict[str, Any], **extra: Any) -> Path:
    data = {
        "database": {"url": db_url},
        "app": {"data_dir": str(tmp_path / "var")},
        "alerts": alerts,
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path
