"""Pure helpers: charts, display tables, safe exports, Markdown escaping and the shipped GeoJSON."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import openpyxl
import pandas as pd

from dashboard import charts, tables
from dashboard.markdown import escape_md
from kernel import labels

GEOJSON = Path(__file__).resolve().parents[2] / "dashboard" / "assets" / "china_provinces.geojson"


def test_geojson_has_every_province_by_full_name() -> None:
    geo = json.loads(GEOJSON.read_text(encoding="utf-8"))
    names = {f["properties"]["name"] for f in geo["features"]}
    assert len(names) == 34
    assert {
        "广东省",
        "北京市",
        "广西壮族自治区",
        "新疆维吾尔自治区",
        "香港特别行政区",
        "澳门特别行政区",
        "台湾省",
    } <= names
    for feature in geo["features"]:
        geom = feature["geometry"]
        polygons = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        for ring in (p[0] for p in polygons):
            assert ring[0] == ring[-1] and len(ring) >= 4
            xs, ys = [p[0] for p in ring], [p[1] for p in ring]
            assert min(xs) >= 73 and max(xs) <= 136 and min(ys) >= 3 and max(ys) <= 54
            area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:], strict=False))
            assert area < 0  # exterior rings clockwise, as d3 / plotly expect


def test_province_map_colours_known_and_marks_missing() -> None:
    geo = json.loads(GEOJSON.read_text(encoding="utf-8"))
    frame = pd.DataFrame({"province": ["广东省", "北京市"], "n": [120, 30]})
    fig = charts.province_map(frame, geo, "n", "地图", "文档数")
    by_name = {t.name: t for t in fig.data if t.name}
    assert by_name["广东省"].text == "广东省：120" and by_name["西藏自治区"].text == "西藏自治区：无数据"
    assert (
        by_name["西藏自治区"].fillcolor == "#eeeeee"
        and by_name["广东省"].fillcolor != by_name["北京市"].fillcolor
    )
    assert "geo" not in fig.layout.to_plotly_json()  # no plotly geo: nothing fetched from a CDN


def test_empty_frames_give_a_message_not_empty_axes() -> None:
    fig = charts.line(pd.DataFrame(columns=["bucket", "n", "c"]), "bucket", "n", "c", "趋势", {})
    assert fig.layout.annotations[0].text == "所选范围内暂无数据"


def test_markdown_escaping_shows_text_literally() -> None:
    hostile = "**粗** <b>x</b> [链接](http://a) :red[警告] $x$ # 标题"
    escaped = escape_md(hostile)
    unescaped = re.sub(r"\\.", "", escaped)  # what is left once every escaped character is removed
    assert not set(unescaped) & set("*<>[]():$#")
    assert escaped.replace("\\", "") == hostile
    assert escape_md("第一行\n## 第二行") == "第一行 \\#\\# 第二行"


def test_exports_never_turn_text_into_formulas() -> None:
    frame = pd.DataFrame(
        {"内容": ['=HYPERLINK("http://x")', "+1", "正常文本", "@SUM(A1)"], "点赞": [1, 2, 3, 4]}
    )
    csv_text = tables.to_csv_bytes(frame)
    assert csv_text.startswith("\ufeff".encode())
    back = pd.read_csv(io.BytesIO(csv_text), encoding="utf-8-sig")
    assert list(back["内容"]) == ['\'=HYPERLINK("http://x")', "'+1", "正常文本", "'@SUM(A1)"]
    sheet = openpyxl.load_workbook(io.BytesIO(tables.to_xlsx_bytes(frame))).active
    cells = [sheet.cell(row=r, column=1) for r in range(2, 6)]
    assert [c.value for c in cells] == list(frame["内容"]) and all(c.data_type == "s" for c in cells)
    assert [sheet.cell(row=r, column=2).value for r in range(2, 6)] == [1, 2, 3, 4]


def test_labels() -> None:
    assert labels.label("channel", "hotline") == "12345热线"
    assert labels.label("sentiment", "") == "未知" and labels.place("") == "未知"
    assert labels.label("channel", "wechat") == "wechat"


def test_chart_labels_are_not_markup() -> None:
    hostile = '<a href="http://x">点我</a><b>粗</b>'
    frame = pd.DataFrame({"话题": [hostile, "普通"], "c_volume": [1.0, 2.0], "n": [3, 4]})
    for fig in (
        charts.bars(frame, "话题", "n", "t", {}),
        charts.contributions(frame, "话题", {"c_volume": "声量"}, "t"),
        charts.donut(frame, "话题", "n", "t"),
        charts.matrix(frame.set_index("话题")[["n"]], "t", "n"),
    ):
        shown = json.loads(fig.to_json())  # what the browser receives
        strings = " ".join(str(v) for trace in shown["data"] for v in trace.values())
        assert "<a" not in strings and "<b>" not in strings
        assert "&lt;a href" in strings


def test_excel_export_keeps_missing_values_empty_and_drops_unstorable_characters() -> None:
    frame = pd.DataFrame(
        {
            "点赞": pd.array([1, None], dtype="Int64"),
            "内容": ["响铃\x07字符", None],
            "得分": [1.5, float("nan")],
            "城市": ["长沙", "株洲"],
        }
    )
    sheet = openpyxl.load_workbook(io.BytesIO(tables.to_xlsx_bytes(frame))).active
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert rows == [[1, "响铃字符", 1.5, "长沙"], [None, None, None, "株洲"]]
