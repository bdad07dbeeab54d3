"""报告: generate the weekly report (analysts, admins) and download the files.

A file is handed to the browser only after 准备下载, which re-checks the user against the database
and audit-logs the export (``export.report``) at that moment: once prepared the file is within the
browser's reach, so the click on the download button itself is not what is recorded.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import auth, data
from dashboard.context import page_context
from dashboard.markdown import escape_md
from dashboard.tables import local_time
from kernel import labels
from reports.weekly import generate_weekly_report, newest_week_with_data
from storage.store import Store
from storage.types import iso_week

MIMES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
FLASH = "reports_flash"
PREPARED = "reports_prepared"  # {"name": file name, "data": bytes} of the file prepared for download

ctx = page_context()
st.title("报告")


out_dir = Path(ctx.settings.reports.out_dir)
flash = st.session_state.pop(FLASH, None)
if flash:
    (st.success if flash[0] == "ok" else st.error)(escape_md(flash[1]))  # may quote stored text


def weeks_before(week: str, offset: int) -> str:
    year, num = (int(x) for x in week.split("-W"))
    return iso_week(date.fromisocalendar(year, num, 1) - timedelta(weeks=offset))


# the newest complete week with data: last week, or an imported archive's own last week
newest_week = newest_week_with_data(data.engine(), ctx.now, ctx.tz)


def generate(week: str, formats: list[str]) -> None:
    user = auth.authorize(data.engine(), "reports")
    if user is None:
        st.session_state[FLASH] = ("error", auth.DENIED)
        return
    try:
        paths = generate_weekly_report(
            data.engine(),
            ctx.settings,
            week=week,
            formats=formats,
            out_dir=out_dir,
            requested_by=user.username,
        )
    except Exception as exc:  # noqa: BLE001 - the failure is recorded in report_runs; tell the user
        st.session_state[FLASH] = ("error", f"周报生成失败：{type(exc).__name__}: {exc}")
    else:
        Store(data.engine()).audit(user.username, "report.generate", week, {"formats": formats})
        st.session_state.pop(PREPARED, None)  # the file may have been rewritten
        st.session_state[FLASH] = ("ok", f"已生成 {week} 周报：" + "、".join(Path(p).name for p in paths))
    data.clear_caches()


st.subheader("生成周报")
if ctx.can("reports"):
    weeks = [weeks_before(newest_week, i) for i in range(8)]
    c1, c2 = st.columns([1, 2])
    week = c1.selectbox("周次", weeks, key="r_week", help="默认最近一个有数据的完整周（ISO 周）")
    formats = c2.multiselect("格式", list(MIMES), default=list(ctx.settings.reports.formats), key="r_formats")
    st.button(
        "生成周报",
        key="r_generate",
        type="primary",
        on_click=generate,
        args=(week, formats),
        disabled=not formats,
    )
else:
    st.info("生成周报需要分析员或管理员角色；已生成的报告可在下方下载。")


def prepare_download(name: str) -> None:
    """Read one report file for download and audit-log the export (the user re-checked first)."""
    user = auth.authorize(data.engine(), "read")
    if user is None:
        st.session_state.pop(PREPARED, None)
        st.session_state[FLASH] = ("error", auth.DENIED)
        return
    path = out_dir / name
    try:
        content = path.read_bytes()
    except OSError as exc:
        st.session_state[FLASH] = ("error", f"无法读取 {name}：{exc.strerror or exc}")
        return
    Store(data.engine()).audit(user.username, "export.report", name, {"bytes": len(content)})
    st.session_state[PREPARED] = {"name": name, "data": content}


st.subheader("已生成的报告")
files = sorted(
    (p for p in out_dir.glob("*") if p.suffix.lstrip(".") in MIMES), key=lambda p: p.name, reverse=True
)
if not files:
    st.text(f"{out_dir} 下还没有报告文件。")
prepared = st.session_state.get(PREPARED) or {}
for i, path in enumerate(files[:20]):  # a file is read only when prepared
    c1, c2 = st.columns([3, 1])
    c1.text(f"{path.name}（{path.stat().st_size / 1024:.0f} KB）")
    if prepared.get("name") == path.name:
        c2.download_button(
            "下载", prepared["data"], file_name=path.name, mime=MIMES[path.suffix.lstrip(".")], key=f"r_dl_{i}",
            on_click="ignore",  # audit-logged when prepared
        )  # fmt: skip
    else:
        c2.button("准备下载", key=f"r_prep_{i}", on_click=prepare_download, args=(path.name,))

runs = data.report_runs(ctx.url)
if not runs.empty:
    st.subheader("生成记录")
    st.dataframe(
        pd.DataFrame(
            {
                "周次": runs["week"].astype(str),
                "状态": runs["status"].map(lambda v: labels.RUN_STATUS.get(v, v)),
                "请求人": runs["requested_by"].astype(str),
                "开始": local_time(runs["started_at"], ctx.tz),
                "格式": runs["formats"].map(lambda f: "、".join(f or [])),
                "错误": runs["error"].fillna("").astype(str),
            }
        ),
        hide_index=True,
        width="stretch",
    )
