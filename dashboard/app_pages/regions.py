"""地域分布: a choropleth of China by province and a table down to city and district."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import page_context, page_header
from kernel import labels

ctx = page_context()
page_header("地域分布", ctx)

by_prov = data.breakdown(ctx.url, ctx.filters, ("province", "sentiment"))
if by_prov.empty:
    st.info("所选范围内暂无数据。")
    st.stop()
prov = (
    by_prov.assign(negative=by_prov["n"].where(by_prov["sentiment"] == "negative", 0))
    .groupby("province", as_index=False)[["n", "negative"]]
    .sum()
    .sort_values("n", ascending=False)
)
prov["share"] = prov["negative"] / prov["n"]
geo = data.china_geojson()
on_map = {f["properties"]["name"] for f in geo["features"]}
located = prov.loc[prov["province"].isin(on_map)]

measure = st.radio("地图指标", ["声量", "负面占比"], horizontal=True, key="map_measure")
if measure == "声量":
    fig = charts.province_map(located, geo, "n", "各省级地区声量", "文档数")
else:
    fig = charts.province_map(located, geo, "share", "各省级地区负面占比", "负面占比", percent=True)
st.plotly_chart(fig, key="region_map")
st.caption("地图为示意图（省级边界简化，未含南海诸岛附图），仅供内部研判，不作为标准地图对外发布。")
elsewhere = prov.loc[~prov["province"].isin(on_map)]
if not elsewhere.empty:
    names = "、".join(
        f"{labels.place(p)} {n} 条" for p, n in zip(elsewhere["province"], elsewhere["n"], strict=True)
    )
    st.text(f"未能在地图上显示：{names}")

left, right = st.columns([2, 3])
left.subheader("省级地区")
left.dataframe(
    pd.DataFrame(
        {
            "地区": prov["province"].map(labels.place),
            "声量（条）": prov["n"].astype("int64"),
            "负面（条）": prov["negative"].astype("int64"),
            "负面占比(%)": (prov["share"] * 100).round(1),
        }
    ),
    hide_index=True,
    width="stretch",
)
right.subheader("市、区县明细")
detail = data.region_table(ctx.url, ctx.filters)
right.dataframe(
    pd.DataFrame(
        {
            "省份": detail["province"].map(labels.place),
            "城市": detail["city"].map(labels.place),
            "区县": detail["district"].map(labels.place),
            "声量（条）": detail["n"].astype("int64"),
            "负面（条）": detail["negative"].astype("int64"),
        }
    ),
    hide_index=True,
    width="stretch",
)
