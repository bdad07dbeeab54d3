"""The file readers are strict and bounded: every refusal names the file and the 1-based line.

Each case is a small file written by the test; the limits are lowered through ``ImportSettings``
so the files stay small. Peak memory while refusing a gzip bomb is measured with tracemalloc.
"""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest

from ingest.tabular import Record, TableError, open_table
from kernel.settings import ConfigError, ImportSettings, load_settings

MB = 1 << 20


def read_all(path: Path, limits: ImportSettings | None = None) -> list[Record]:
    with open_table(path, limits) as table:
        return list(table.records)


def write_gzip_of_zeros(path: Path, n_bytes: int, head: bytes = b"content\n") -> None:
    """A gzip file expanding to ``n_bytes`` (mostly zeros) written in 1 MB steps."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MB)
    with path.open("wb") as out:
        out.write(compressor.compress(head))
        for _ in range(n_bytes // MB):
            out.write(compressor.compress(block))
        out.write(compressor.flush())


# -- CSV --------------------------------------------------------------------------------------


def test_an_unclosed_quote_refuses_the_rest_and_keeps_the_rows_before(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_text(
        'id,content\n1,第一条\n2,"第二条\n跨两行"\n3,"没有结尾的引号\n4,第四条\n5,第五条\n', encoding="utf-8"
    )
    records = read_all(path)
    assert [r.data for r in records[:2]] == [
        {"id": "1", "content": "第一条"},
        {"id": "2", "content": "第二条\n跨两行"},
    ]
    last = records[-1]
    assert len(records) == 3 and last.fatal and last.data is None
    assert last.row == 5 and "line 5" in (last.error or "") and "never closed" in (last.error or "")


def test_an_unclosed_quote_in_a_long_file_stops_at_the_line_limit(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    rest = "".join(f"{i},正文{i}\n" for i in range(5000))
    path.write_text(f'id,content\n1,好的\n2,"坏的\n{rest}', encoding="utf-8")
    records = read_all(path, ImportSettings(max_line_kb=16))
    assert records[0].data == {"id": "1", "content": "好的"}
    assert len(records) == 2 and records[1].fatal
    assert "starting on line 3" in (records[1].error or "") and "imports.max_line_kb" in (
        records[1].error or ""
    )


def test_a_line_that_does_not_decode_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "id,content\n1,正常\n".encode() + b"2,\xff\xfe broken\n" + '3,"两行\n正常"\n4,末行\n'.encode()
    )
    records = read_all(path)
    assert [r.row for r in records] == [2, 3, 5, 6]
    bad = records[1]
    assert bad.data is None and not bad.fatal
    assert bad.error == "byte sequence ff does not decode as UTF-8 at column 3 of line 3"
    good = [r.data for r in records if r.data]
    assert good == [
        {"id": "1", "content": "正常"},
        {"id": "3", "content": "两行\n正常"},
        {"id": "4", "content": "末行"},
    ]
    assert not any("\ufffd" in v for d in good for v in d.values())


def test_gbk_text_past_the_sniffed_window_is_named(tmp_path: Path) -> None:
    path = tmp_path / "late_gbk.csv"
    ascii_rows = "".join(f"{i},plain ascii row {i}\n" for i in range(20_000))  # > 256 KB of UTF-8
    path.write_bytes(b"id,content\n" + ascii_rows.encode() + "9,市民来电\n".encode("gbk"))
    records = read_all(path)
    last = records[-1]
    assert last.data is None and last.row == 20_002 and "line 20002" in (last.error or "")
    assert len([r for r in records if r.data]) == 20_000


def test_utf8_with_a_gbk_line_is_read_as_utf8_not_as_mojibake(tmp_path: Path) -> None:
    # The whole file happens to be valid GB18030: read so, row 2 would silently become 鍋滄按灏忓尯.
    path = tmp_path / "mixed_encodings.csv"
    data = "id,content\n1,停水小区\n".encode() + "2,这里\n".encode("gbk") + "3,路灯\n".encode()
    data.decode("gb18030")
    path.write_bytes(data)
    records = read_all(path)
    assert [r.data for r in records if r.data] == [
        {"id": "1", "content": "停水小区"},
        {"id": "3", "content": "路灯"},
    ]
    assert [r.row for r in records if r.data is None] == [3]


def test_a_gbk_file_is_still_read_as_gbk(tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("id,content\n1,停水小区\n2,这里路灯不亮\n".encode("gbk"))
    with open_table(path) as table:
        assert table.encoding == "gb18030"
        assert [r.data["content"] for r in table.records if r.data] == ["停水小区", "这里路灯不亮"]


def test_classic_mac_line_endings_still_read(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes('id,content\r1,第一条\r2,"两\r行"\r3,第三条\r'.encode())
    records = read_all(path)
    assert [(r.row, r.data) for r in records] == [
        (2, {"id": "1", "content": "第一条"}),
        (4, {"id": "2", "content": "两\n行"}),
        (5, {"id": "3", "content": "第三条"}),
    ]


def test_an_over_long_field_skips_only_its_row(tmp_path: Path) -> None:
    path = tmp_path / "long_field.csv"
    path.write_text(f"id,content\n1,短\n2,{'长' * 150}\n3,短\n", encoding="utf-8")
    records = read_all(path, ImportSettings(max_field_chars=100))
    assert [r.data["id"] for r in records if r.data] == ["1", "3"]
    (bad,) = [r for r in records if r.data is None]
    assert bad.row == 3 and not bad.fatal
    assert (
        "'content'" in (bad.error or "")
        and "150" in (bad.error or "")
        and "max_field_chars" in (bad.error or "")
    )


def test_a_stray_quote_is_a_row_error_not_a_merge(tmp_path: Path) -> None:
    path = tmp_path / "stray.csv"
    path.write_text('id,content\n1,"引号"之后\n2,好\n', encoding="utf-8")
    records = read_all(path)
    assert records[0].data is None and records[0].row == 2 and "malformed CSV" in (records[0].error or "")
    assert records[1].data == {"id": "2", "content": "好"}


# -- gzip and XLSX bombs ----------------------------------------------------------------------


def test_a_gzip_bomb_is_refused_before_any_row_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.csv.gz"
    write_gzip_of_zeros(path, 64 * MB)
    assert path.stat().st_size < 128 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(TableError) as refused:
            open_table(path, ImportSettings(max_decompressed_mb=8))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "bomb.csv.gz" in str(refused.value) and "imports.max_decompressed_mb" in str(refused.value)
    assert peak < 8 * MB, f"peak {peak / MB:.1f} MB"


@pytest.mark.parametrize(
    ("name", "head", "fatal", "line"),
    [
        ("long_line.jsonl.gz", b'{"content": "ok"}\n{"content": "', False, 2),
        ("open_quote.csv.gz", b'content\nok\n"', True, 3),
    ],
)
def test_a_64_mb_line_is_passed_over_in_bounded_memory(
    tmp_path: Path, name: str, head: bytes, fatal: bool, line: int
) -> None:
    path = tmp_path / name
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as out:
        out.write(compressor.compress(head))
        for _ in range(64):
            out.write(compressor.compress(b"x" * MB))
        out.write(compressor.compress(b'"}\n{"content": "after"}\n') + compressor.flush())
    tracemalloc.start()
    try:
        records = read_all(path, ImportSettings(max_line_kb=512))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert records[0].data is not None and records[1].data is None and records[1].row == line
    assert records[1].fatal is fatal and "imports.max_line_kb" in (records[1].error or "")
    if not fatal:  # JSON Lines: only the long line is lost
        assert records[2].data == {"content": "after"}
    assert peak < 12 * MB, f"peak {peak / MB:.1f} MB"


def test_a_truncated_gzip_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    body = "".join(f"{i},第{i}条留言内容\n" for i in range(2000)).encode()
    whole = gzip.compress(b"id,content\n" + body)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(TableError, match=r"cut\.csv\.gz: not a complete gzip file"):
        open_table(path)


def test_an_xlsx_zip_bomb_is_refused(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["id", "content"])
    book.active.append(["1", "正文"])
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/media/padding.bin", bytes(3 * MB))
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 64 * 1024
    assert [r.data for r in read_all(path)] == [{"id": "1", "content": "正文"}]  # within the default
    with pytest.raises(TableError, match=r"bomb\.xlsx: its zip members expand to 3 MB"):
        open_table(path, ImportSettings(max_decompressed_mb=2))
    gz = tmp_path / "bomb.xlsx.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert [r.data for r in read_all(gz)] == [{"id": "1", "content": "正文"}]
    with pytest.raises(TableError, match=r"bomb\.xlsx\.gz: its zip members"):
        open_table(gz, ImportSettings(max_decompressed_mb=2))


def test_an_over_long_xlsx_cell_skips_its_row(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    for row in (["id", "content"], ["1", "短"], ["2", "长" * 300], ["3", "短"]):
        book.active.append(row)
    path = tmp_path / "cells.xlsx"
    book.save(path)
    records = read_all(path, ImportSettings(max_field_chars=100))
    assert [r.data["id"] for r in records if r.data] == ["1", "3"]
    assert [r.row for r in records if r.data is None] == [3]


def test_xlsx_carriage_returns_come_back_as_line_breaks(shared_data: Path) -> None:
    """Excel stores a carriage return as ``_x000D_``; the 附件4 export has 78 such cells."""
    records = read_all(shared_data / "tipdm2020_c" / "fujian4_messages_replies.xlsx", ImportSettings())
    texts = [v for r in records if r.data for v in r.data.values() if isinstance(v, str)]
    assert texts and not [v for v in texts if "_x000D_" in v]
    assert any("\r" in v for v in texts)


# -- JSON and JSON Lines ----------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("depth", [65, 100_000])
def test_a_json_document_nested_too_deep_is_refused_with_its_line(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text(
        '{"items": [\n{"content": "ok"},\n{"content": ' + nested(depth) + "}\n]}", encoding="utf-8"
    )
    with pytest.raises(TableError) as refused:
        open_table(path)
    message = str(refused.value)
    assert message.startswith("deep.json: line 3: JSON nested deeper than 64 levels"), message


def test_a_json_document_within_the_depth_limit_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(
        json.dumps({"items": [{"content": "ok", "deep": json.loads(nested(60))}]}), encoding="utf-8"
    )
    assert [r.data["content"] for r in read_all(path) if r.data] == ["ok"]


def test_an_undecodable_json_document_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(b'[\n{"content": "ok"},\n{"content": "\xff"}\n]')
    with pytest.raises(
        TableError, match=r"^bad\.json: line 3: byte sequence ff does not decode as UTF-8 at column 14"
    ):
        open_table(path)


def test_a_json_document_over_its_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json.gz"
    path.write_bytes(gzip.compress(json.dumps([{"content": "x" * 1000}] * 3000).encode()))
    with pytest.raises(TableError, match=r"big\.json\.gz: a JSON document of 2 MB .* JSON Lines"):
        open_table(path, ImportSettings(max_json_document_mb=1))


def test_json_lines_refuse_only_the_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_bytes(
        b'{"content": "one"}\n'
        + b'{"content": '
        + nested(70).encode()
        + b"}\n"
        + b'{"content": "'
        + b"x" * 3000
        + b'"}\n'
        + b'{"content": "\xff\xfe"}\n'
        + b'{"content": "'
        + "长".encode() * 200
        + b'"}\n'
        + b'{"content": "six"}\n'
    )
    records = read_all(path, ImportSettings(max_line_kb=2, max_field_chars=100))
    assert [(r.row, r.data) for r in records if r.data] == [(1, {"content": "one"}), (6, {"content": "six"})]
    errors = {r.row: r.error or "" for r in records if r.data is None}
    assert "max_json_depth" in errors[2]
    assert "max_line_kb" in errors[3]
    assert errors[4] == "byte sequence ff does not decode as UTF-8 at column 14"
    assert "max_field_chars" in errors[5] and "'content'" in errors[5]


# -- settings ---------------------------------------------------------------------------------


def test_the_limits_are_settings_with_bounds(tmp_path: Path) -> None:
    shipped = load_settings(Path(__file__).resolve().parents[2] / "config.yaml", {})
    assert shipped.imports == ImportSettings()
    config = tmp_path / "config.yaml"
    config.write_text("imports: {max_json_depth: 1, max_line_kb: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load_settings(config, {})
    assert {p.split(": ")[1] for p in bad.value.problems} == {"imports.max_json_depth", "imports.max_line_kb"}
    overridden = load_settings(
        config, {"SENSING_IMPORTS__MAX_JSON_DEPTH": "8", "SENSING_IMPORTS__MAX_LINE_KB": "4"}
    )
    assert overridden.imports.max_json_depth == 8 and overridden.imports.max_line_bytes == 4096
