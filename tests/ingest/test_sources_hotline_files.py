"""HotlineFilesSource: drop folder, presets and mappings, processed/ and quarantine/ with error files."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ingest.registry import build_source
from ingest.sources.hotline_files import HotlineFilesSource
from tests.ingest.conftest import DATA

GBK_FIELDS = {
    "external_id": ["工单编号"],
    "title": "标题",
    "content": "诉求内容",
    "published_at": "受理时间",
    "author": "来电人",
    "region_hint": "区域",
}


def drop_source(folder: Path, **options: Any) -> HotlineFilesSource:
    opts = {"folder": str(folder), "settle_seconds": 0, **options}
    source = build_source("wenzheng", "hotline_files", opts, channel=None, timezone="Asia/Shanghai")
    assert isinstance(source, HotlineFilesSource)
    return source


def drop(folder: Path, name: str, target: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (target or name)
    shutil.copy(DATA / "ingest" / name, path)
    old = time.time() - 60
    os.utime(path, (old, old))
    return path


def test_tipdm_preset_imports_good_rows_and_quarantines_the_file(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "tipdm_sample.xlsx")
    batches = list(drop_source(inbox, preset="tipdm").fetch({}))
    items = [i for b in batches for i in b.items]
    assert [i.external_id for i in items] == [f"tipdm_sample:{n}" for n in (90001, 90002, 90003, 90006)]
    second = items[1]
    assert second.title == "A2区某小区物业乱收费" and second.author == "U0000002" and second.likes == 12
    assert second.extra == {"dislikes": 1}
    assert second.published_at is not None and second.published_at.isoformat() == "2019-03-02T01:00:00+00:00"
    assert (
        items[2].published_at is not None and items[2].published_at.isoformat() == "2019-03-03T02:30:00+00:00"
    )
    reasons = [r.reason for b in batches for r in b.rejected]
    assert reasons == ["invalid_date:留言时间", "invalid_number:点赞数"]
    assert not (inbox / "tipdm_sample.xlsx").exists()
    quarantined = inbox / "quarantine" / "tipdm_sample.xlsx"
    assert quarantined.exists()
    errors = (inbox / "quarantine" / "tipdm_sample.xlsx.errors.txt").read_text(encoding="utf-8")
    assert "row 5, column 留言时间" in errors and "row 6, column 点赞数" in errors
    assert "good rows were imported" in errors
    json.dumps(batches[-1].cursor)


def test_gbk_csv_with_a_column_mapping_moves_to_processed(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "hotline_gbk.csv")
    items = [i for b in drop_source(inbox, fields=GBK_FIELDS).fetch({}) for i in b.items]
    assert [i.title for i in items] == ["噪音扰民", "路面破损", "咨询社保"]
    assert items[0].content == "夜间施工噪音严重，影响休息。" and items[0].region_hint == "雨花区"
    assert (inbox / "processed" / "hotline_gbk.csv").exists()
    assert not (inbox / "quarantine").exists()


def test_detects_the_preset_when_none_is_configured(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "tipdm_sample.xlsx")
    items = [i for b in drop_source(inbox).fetch({}) for i in b.items]
    assert len(items) == 4


def test_unreadable_and_unmappable_files_are_quarantined_whole(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")
    drop(inbox, "hotline_gbk.csv")  # lacks the tipdm columns
    for path in inbox.iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    batches = list(drop_source(inbox, preset="tipdm").fetch({}))
    assert [i for b in batches for i in b.items] == []
    assert sorted(r for b in batches for _, r in b.skipped) == ["unreadable_file", "unusable_columns"]
    quarantine = inbox / "quarantine"
    assert "not a readable XLSX" in (quarantine / "broken.xlsx.errors.txt").read_text(encoding="utf-8")
    columns_error = (quarantine / "hotline_gbk.csv.errors.txt").read_text(encoding="utf-8")
    assert "留言编号" in columns_error and "nothing was imported" in columns_error


def test_restart_resumes_inside_a_file(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "tipdm_sample.xlsx")
    source = drop_source(inbox, preset="tipdm", batch_size=2)
    gen = source.fetch({})
    first = next(gen)  # committed; then the process "dies"
    gen.close()
    assert (inbox / "tipdm_sample.xlsx").exists()
    seen = [i.external_id for i in first.items]
    rest = list(drop_source(inbox, preset="tipdm", batch_size=2).fetch(first.cursor))
    later = [i.external_id for b in rest for i in b.items]
    assert not set(seen) & set(later)
    assert len(seen) + len(later) == 4
    assert (inbox / "quarantine" / "tipdm_sample.xlsx").exists()


def test_fresh_and_partial_files_are_left_alone(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "upload.csv.part").write_text("content\n半截文件\n", encoding="utf-8")
    young = inbox / "new.csv"
    young.write_text("content\n刚写入的文件\n", encoding="utf-8")
    source = drop_source(inbox, settle_seconds=30)
    assert source.pending_files() == []
    assert list(source.fetch({})) == []
    assert source.check().ok


def test_the_configured_wenzheng_source_validates() -> None:
    from kernel.settings import load_settings

    settings = load_settings(Path(__file__).resolve().parents[2] / "config.yaml", environ={})
    wenzheng = settings.source("wenzheng")
    options = HotlineFilesSource.options_model.model_validate(wenzheng.options)
    assert options.preset == "tipdm"


def test_the_drop_folder_reads_within_the_configured_import_limits(tmp_path: Path) -> None:
    from ingest.runner import configured_source
    from kernel.settings import Settings

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = [
        ("1", "噪音扰民", "夜间施工噪音严重。"),
        ("2", "长诉求", "小区停水" * 40),
        ("3", "路面破损", "坑洼。"),
    ]
    lines = ["工单编号,标题,诉求内容,受理时间,来电人,区域"]
    lines += [f"{i},{title},{body},2026-11-20 08:00,张三,雨花区" for i, title, body in rows]
    path = inbox / "export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.utime(path, (time.time() - 60, time.time() - 60))
    src = {"name": "wenzheng", "kind": "hotline_files"}
    src["options"] = {"folder": str(inbox), "settle_seconds": 0, "fields": GBK_FIELDS}
    settings = Settings.model_validate({"sources": [src], "imports": {"max_field_chars": 100}})
    source = configured_source(settings, settings.sources[0])
    assert isinstance(source, HotlineFilesSource) and source.limits.max_field_chars == 100
    batches = list(source.fetch({}))
    assert [i.title for b in batches for i in b.items] == ["噪音扰民", "路面破损"]
    (refused,) = [r for b in batches for r in b.rejected]  # the 160-character body, with its row
    assert refused.ref.endswith(":3")
