"""``sensing extract`` prints the collector's extraction of one saved page."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sensing.cli import cli
from tests.ingest.conftest import DATA

NOTICE = DATA / "web" / "gov_notice.html"


def test_extract_json_prints_one_object() -> None:
    result = CliRunner().invoke(
        cli, ["extract", str(NOTICE), "--url", "http://gov.example.cn/a.html", "--json"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["title"] == "关于开展2024年城乡居民医保集中参保缴费工作的通知"
    assert record["published"] == "2024-03-05T10:21:00+08:00"
    assert record["author"] == "市医保局" and record["charset"] == "gb18030"
    assert "逾期缴费的设置待遇等待期" in record["text"] and "版权所有" not in record["text"]
    assert record["attachments"][0]["url"] == "http://gov.example.cn/files/2024/canbao.pdf"


def test_extract_text_and_time_zone() -> None:
    result = CliRunner().invoke(cli, ["extract", str(NOTICE), "--tz", "UTC"])
    assert result.exit_code == 0, result.output
    assert "时间: 2024-03-05T10:21:00+00:00" in result.output  # naive page times read in --tz


def test_extract_with_a_configured_sources_overrides(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
database: {{url: "sqlite:///{tmp_path / "x.db"}"}}
sources:
  - name: notices
    kind: web
    timezone: Asia/Tokyo
    options:
      list_urls: [http://gov.example.cn/tzgg/]
      overrides: {{title: ".related h3"}}
""",
        encoding="utf-8",
    )
    args = ["extract", str(NOTICE), "--json", "--source", "notices", "--config", str(config)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["title"] == "相关文件" and record["published"] == "2024-03-05T10:21:00+09:00"
    missing = CliRunner().invoke(cli, [*args[:-4], "--source", "nope", "--config", str(config)])
    assert missing.exit_code == 2 and "no source named 'nope'" in missing.output


def test_extract_refuses_an_undecodable_page(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_bytes("<p>通知</p>".encode("gbk") + b"\x81\x20\xff\xfe\x80" * 40)
    result = CliRunner().invoke(cli, ["extract", str(page), "--encoding", "gbk"])
    assert result.exit_code == 1 and "broken.html" in result.output and "not valid gb18030" in result.output
