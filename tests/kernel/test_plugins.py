"""The one extension mechanism: a package installed beside Minsheng adds a source, a notifier and a command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from alerts.notifiers import Notification, build_notifier
from ingest.runner import ingest_sources
from kernel import plugins
from kernel.settings import ConfigError, NotifierSettings, load_settings
from sensing.cli import cli
from sensing.config import load_config
from storage import schema as s
from storage.store import Store
from tests.conftest import HttpReceiver

PLUGIN_SITE = Path(__file__).resolve().parents[1] / "data" / "plugin_site"


@pytest.fixture
def installed_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The example distribution on sys.path, as pip would leave it in site-packages."""
    monkeypatch.syspath_prepend(str(PLUGIN_SITE))
    plugins.refresh()
    yield
    monkeypatch.undo()
    plugins.refresh()


def config(tmp_path: Path, **data: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_built_ins_are_registered_through_the_same_entry_points() -> None:
    assert {"rss", "json_api", "hotline_files", "webhook", "demo"} <= set(plugins.names(plugins.SOURCES))
    assert {"webhook", "wecom", "dingtalk", "feishu", "smtp"} <= set(plugins.names(plugins.NOTIFIERS))
    assert {"volume_spike", "keyword", "model_drift"} <= set(plugins.names(plugins.RULES))
    assert {"init", "run", "demo", "status"} <= set(plugins.names(plugins.COMMANDS))
    for group in plugins.GROUPS:
        for name in plugins.names(group):
            assert plugins.load(group, name) is not None, (group, name)


def test_unknown_kind_is_refused_naming_the_choices(tmp_path: Path) -> None:
    path = config(tmp_path, sources=[{"name": "b", "kind": "bulletin_board"}])
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    (msg,) = info.value.problems
    assert "sources.0.kind" in msg and "unknown source kind 'bulletin_board'" in msg and "rss" in msg


def test_a_third_party_source_is_configured_and_collected(
    installed_plugin: None, tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_AUTHOR_KEY", "a-long-random-test-key")
    path = config(
        tmp_path,
        app={"data_dir": str(tmp_path / "var"), "author_hash_key": "$env:TEST_AUTHOR_KEY"},
        sources=[
            {
                "name": "board",
                "kind": "bulletin_board",
                "options": {"lines": ["小区停水三天无人管", "路灯坏了"]},
            }
        ],
    )
    settings = load_config(path, {})
    store = Store(engine)
    (report,) = ingest_sources(settings, store)
    assert report.status == "ok" and report.new == 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.documents)).scalar() == 2
        channels = set(conn.execute(select(s.documents.c.channel)).scalars())
    assert channels == {"gov"}
    (again,) = ingest_sources(settings, store)
    assert again.new == 0  # its cursor is kept like a built-in's


def test_a_third_party_source_options_are_checked_at_start_up(installed_plugin: None, tmp_path: Path) -> None:
    path = config(tmp_path, sources=[{"name": "board", "kind": "bulletin_board", "options": {"lines": 3}}])
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert any("sources.0.options.lines" in p for p in info.value.problems), info.value.problems


def test_a_third_party_notifier_delivers(installed_plugin: None, receiver: HttpReceiver) -> None:
    settings = NotifierSettings(name="plain", kind="plain_text", url=receiver.url + "/hook")
    notifier = build_notifier(settings)
    notifier.send(
        Notification(
            idempotency_key="k1", title="t", text="燃气泄漏 3 条", markdown="", severity="warning", link=""
        )
    )
    (request,) = receiver.requests
    assert request.path == "/hook" and request.body.decode("utf-8") == "燃气泄漏 3 条"


def test_a_third_party_command_joins_the_cli(installed_plugin: None) -> None:
    listing = CliRunner().invoke(cli, ["--help"])
    assert "hello" in listing.output
    result = CliRunner().invoke(cli, ["hello"])
    assert result.exit_code == 0 and "hello from minsheng_example_plugin" in result.output
