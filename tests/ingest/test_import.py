"""``sensing import`` and ``sensing ingest`` through the real CLI, on a temporary SQLite database."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select

from ingest.mapping import map_records
from ingest.presets import choose_fields, file_key
from ingest.tabular import open_table
from sensing.cli import cli
from storage import schema as s
from storage.db import make_engine
from storage.migrate import upgrade_database
from tests.ingest.conftest import DATA, count_documents, documents, ingest_runs

INGEST_DATA = DATA / "ingest"


@pytest.fixture
def app_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Engine]:
    db = tmp_path / "app.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    monkeypatch.setenv("TEST_AUTHOR_KEY", "import-tests")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
app: {{data_dir: {tmp_path / "var"}, author_hash_key: $env:TEST_AUTHOR_KEY}}
database: {{url: "sqlite:///{db}"}}
logging: {{level: WARNING, json_logs: false}}
sources:
  - name: wenzheng
    kind: hotline_files
    channel: hotline
    options: {{folder: {tmp_path / "inbox"}, preset: tipdm, settle_seconds: 0}}
  - name: demo
    kind: demo
    enabled: false
    options: {{use_corpora: false, backfill_days: 0.2}}
""",
        encoding="utf-8",
    )
    yield config, engine
    engine.dispose()


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def test_generic_jsonl_loads_without_a_mapping(app_config: tuple[Path, Engine]) -> None:
    config, engine = app_config
    result = run(config, "import", str(INGEST_DATA / "generic.jsonl"), "--source", "citizen_posts")
    assert result.exit_code == 0, result.output
    assert "mapping generic (detected)" in result.output
    assert "5 new" not in result.output and "4 new" in result.output
    docs = {d["external_id"]: d for d in documents(engine, "citizen_posts")}
    assert set(docs) == {"g1", "g2", "g3", "g5"}
    assert docs["g1"]["title"] == "小区停水" and docs["g1"]["url"] == "https://example.com/g1"
    assert docs["g5"]["extra"]["flags"] == ["no_date"]
    (run_row,) = ingest_runs(engine, "citizen_posts")
    assert run_row["skip_reasons"] == {"unreadable_row": 1, "no_text": 1, "flagged:no_date": 1}
    with engine.connect() as conn:
        kind = conn.execute(select(s.sources.c.kind).where(s.sources.c.name == "citizen_posts")).scalar_one()
    assert kind == "file_import"


def test_json_gz_and_csv_without_ids(app_config: tuple[Path, Engine]) -> None:
    config, engine = app_config
    assert run(config, "import", str(INGEST_DATA / "generic.json.gz"), "--source", "posts").exit_code == 0
    assert count_documents(engine, "posts") == 4
    assert (
        run(config, "import", str(INGEST_DATA / "generic_noid.csv"), "--source", "csv_posts").exit_code == 0
    )
    assert [d["external_id"] for d in documents(engine, "csv_posts")] == ["generic_noid:2", "generic_noid:3"]


def test_tipdm_file_into_the_configured_source_and_again(app_config: tuple[Path, Engine]) -> None:
    config, engine = app_config
    first = run(config, "import", str(INGEST_DATA / "tipdm_sample.xlsx"), "--source", "wenzheng")
    assert first.exit_code == 0, first.output
    assert "4 new" in first.output and "2 skipped" in first.output
    assert "row 5, column 留言时间" in first.output  # the rows at fault are named
    docs = documents(engine, "wenzheng")
    assert len(docs) == 4 and {d["channel"] for d in docs} == {"hotline"}
    assert all("13912345678" not in d["content"] for d in docs)
    again = run(config, "import", str(INGEST_DATA / "tipdm_sample.xlsx"), "--source", "wenzheng")
    assert again.exit_code == 0 and "already imported" in again.output
    assert count_documents(engine) == 4
    with engine.connect() as conn:
        cursor = conn.execute(select(s.sources.c.cursor).where(s.sources.c.name == "wenzheng")).scalar_one()
    assert list(cursor["imports"].values())[0]["complete"] is True


def test_unusable_files_are_refused_with_a_reason(app_config: tuple[Path, Engine], tmp_path: Path) -> None:
    config, _ = app_config
    wrong = run(config, "import", str(INGEST_DATA / "hotline_gbk.csv"), "--source", "x", "--mapping", "tipdm")
    assert wrong.exit_code == 2 and "留言编号" in wrong.output
    taxonomy = tmp_path / "taxonomy.csv"
    taxonomy.write_text("一级分类,二级分类,三级分类\n城乡建设,安全生产,事故处理\n", encoding="utf-8")
    refused = run(config, "import", str(taxonomy), "--source", "x")
    assert refused.exit_code == 2 and "taxonomy" in refused.output
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello", encoding="utf-8")
    assert run(config, "import", str(unknown), "--source", "x").exit_code == 2


def test_ingest_runs_the_configured_sources(app_config: tuple[Path, Engine], tmp_path: Path) -> None:
    config, engine = app_config
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "drop.xlsx").write_bytes((INGEST_DATA / "tipdm_sample.xlsx").read_bytes())
    result = run(config, "ingest")
    assert result.exit_code == 0, result.output
    assert "source wenzheng: ok" in result.output and result.output.strip().splitlines()[-1].startswith(
        "ingest: 1 source"
    )
    assert count_documents(engine, "wenzheng") == 4 and (inbox / "quarantine" / "drop.xlsx").exists()
    demo = run(config, "ingest", "--source", "demo")  # disabled sources run when named
    assert demo.exit_code == 0 and count_documents(engine, "demo") > 0
    assert run(config, "ingest", "--source", "nope").exit_code == 2


# -- the real corpora, as they are ------------------------------------------------------------

TIPDM_FILES = [
    "fujian2_segmented_labeled.csv",
    "fujian2_testdata_unlabeled.xlsx",
    "fujian3_messages_votes.xlsx",
    "fujian4_messages_replies.xlsx",
]
HOT_SEARCH_FILES = [
    ("weibo_hot_search_hourly/snapshots.csv.gz", "weibo_hot_search"),
    ("weibo_hot_search_hourly/topics.csv.gz", "weibo_hot_topics"),
    ("weibo_hot_search_daily_2020_2024/first_seen.csv.gz", "weibo_hot_daily"),
]


@pytest.mark.parametrize(
    ("relative", "preset"),
    [(f"tipdm2020_c/{f}", "tipdm_segmented" if "segmented" in f else "tipdm") for f in TIPDM_FILES]
    + HOT_SEARCH_FILES,
)
def test_shared_files_are_recognised_and_map_cleanly(shared_data: Path, relative: str, preset: str) -> None:
    path = shared_data / relative
    with open_table(path) as table:
        fields, detected = choose_fields(table.columns)
        assert detected == preset
        mapped = list(islice(map_records(table.records, fields, file_key=file_key(path.name)), 1500))
    bad = [m.message for m in mapped if m.item is None]
    assert not bad, bad[:5]
    assert all(m.item and (m.item.content or m.item.title) for m in mapped)
    if preset != "tipdm_segmented":
        assert all(m.item and m.item.published_at is not None for m in mapped)


@pytest.mark.slow
def test_fujian3_stores_its_4326_messages(shared_data: Path, app_config: tuple[Path, Engine]) -> None:
    config, engine = app_config
    path = shared_data / "tipdm2020_c" / "fujian3_messages_votes.xlsx"
    result = run(config, "import", str(path), "--source", "wenzheng", "--no-progress")
    assert result.exit_code == 0, result.output
    assert count_documents(engine, "wenzheng") == 4326


def test_the_scheduler_job_runs_one_source(app_config: tuple[Path, Engine], tmp_path: Path) -> None:
    from sensing.app import load_app
    from sensing.jobs import job_ingest

    config, engine = app_config
    counts = job_ingest(load_app(str(config)), "demo")
    assert counts["status"] == "ok" and counts["new"] == count_documents(engine, "demo") > 0
    json.dumps(counts)


# -- limits and refusals through the CLI (the readers themselves: test_import_limits.py) -------


def test_an_unclosed_quote_keeps_the_rows_before_and_fails_naming_the_line(
    app_config: tuple[Path, Engine], tmp_path: Path
) -> None:
    config, engine = app_config
    path = tmp_path / "posts.csv"
    path.write_text(
        'id,content\np1,第一条留言\np2,第二条留言\np3,"引号没有关上\np4,第四条\n', encoding="utf-8"
    )
    result = run(config, "import", str(path), "--source", "posts", "--no-progress")
    assert result.exit_code == 1, result.output
    assert "refused posts.csv: line 4: a quote opened in the row starting on line 4 is never closed" in (
        result.output
    )
    assert sorted(d["external_id"] for d in documents(engine, "posts")) == ["p1", "p2"]
    again = run(config, "import", str(path), "--source", "posts", "--no-progress")
    assert again.exit_code == 1 and "refused posts.csv: line 4" in again.output
    assert "already imported" not in again.output and count_documents(engine, "posts") == 2


def test_a_gzip_bomb_is_refused_before_anything_is_stored(
    app_config: tuple[Path, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zlib

    config, engine = app_config
    monkeypatch.setenv("SENSING_IMPORTS__MAX_DECOMPRESSED_MB", "2")
    path = tmp_path / "bomb.csv.gz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = (
        compressor.compress(b"id,content\n1,ok\n") + compressor.compress(bytes(8 << 20)) + compressor.flush()
    )
    path.write_bytes(data)
    result = run(config, "import", str(path), "--source", "bombed")
    assert result.exit_code == 2
    assert "Error: bomb.csv.gz: decompresses to more than 2 MB (imports.max_decompressed_mb)" in result.output
    assert count_documents(engine) == 0


def test_an_over_long_field_skips_its_row_by_name(
    app_config: tuple[Path, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, engine = app_config
    monkeypatch.setenv("SENSING_IMPORTS__MAX_FIELD_CHARS", "100")
    path = tmp_path / "long.csv"
    path.write_text(f"id,content\nq1,短留言\nq2,{'长' * 101}\nq3,短留言二\n", encoding="utf-8")
    result = run(config, "import", str(path), "--source", "posts", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "skipped long.csv: line 3: column 'content': 101 characters, more than 100" in result.output
    assert sorted(d["external_id"] for d in documents(engine, "posts")) == ["q1", "q3"]


def test_the_drop_folder_quarantines_a_file_refused_part_way(
    app_config: tuple[Path, Engine], tmp_path: Path
) -> None:
    config, engine = app_config
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = "".join(f"{n},市民{n},2019-05-0{n} 10:00:00,第{n}条留言\n" for n in range(1, 4))
    (inbox / "drop.csv").write_bytes(
        ("留言编号,留言用户,留言时间,留言详情\n" + rows).encode() + b'9,x,2019-05-09 10:00:00,"\xd5\xe2\n'
    )
    result = run(config, "ingest", "--source", "wenzheng")
    assert result.exit_code == 0, result.output
    assert sorted(d["content"] for d in documents(engine, "wenzheng")) == [
        "第1条留言",
        "第2条留言",
        "第3条留言",
    ]
    errors = (inbox / "quarantine" / "drop.csv.errors.txt").read_text(encoding="utf-8")
    assert "row 5: a quote opened in the row starting on line 5 is never closed" in errors
