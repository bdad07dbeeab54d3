"""用户管理 (admins only): list, add, change password, change role, disable users; recent audit log.

Every change re-checks, in its button callback, that the acting user is still an active admin. A
new password, a new role or disabling ends the target's sessions (when admins change themselves,
their other sessions end and this one continues).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard import auth, data
from dashboard.context import page_context
from dashboard.markdown import escape_md
from dashboard.tables import local_time
from kernel import labels
from storage.queries import audit_frame
from storage.store import Store

FLASH = "users_flash"

ctx = page_context()
st.title("用户管理")
if not auth.require(ctx.user, "users", "用户管理"):
    st.stop()
flash = st.session_state.pop(FLASH, None)
if flash:
    (st.success if flash[0] == "ok" else st.error)(escape_md(flash[1]))  # may quote stored text


def run(action: str, target: str, fn: Any, *args: Any, detail: dict[str, Any] | None = None) -> None:
    """Apply a user change (values read from the session at click time) and audit-log it, if the
    acting user, re-read from the database, is still an active admin."""
    actor = auth.authorize(data.engine(), "users")
    if actor is None:
        st.session_state[FLASH] = ("error", auth.DENIED)
        return
    try:
        epoch = fn(data.engine(), target, *args)
    except (auth.UserError, ValueError) as exc:
        st.session_state[FLASH] = ("error", str(exc))
        return
    if target == actor.username and isinstance(epoch, int):
        auth.keep_session(epoch)  # the admin's own other sessions end; this one goes on
    Store(data.engine()).audit(actor.username, f"user.{action}", target, detail or {})
    st.session_state[FLASH] = ("ok", f"已完成：{action} {target}")


def change(action: str) -> None:
    who = st.session_state.get("u_who")
    if not who:
        return
    if action == "set-password":
        run(action, who, auth.set_password, st.session_state.get("u_password") or "")
        st.session_state["u_password"] = ""
    elif action == "set-role":
        role = st.session_state["u_role"]
        run(action, who, auth.set_role, role, detail={"role": role})
    else:
        run(action, who, auth.set_active, action == "enable")


def add() -> None:
    state = st.session_state
    name, display = state["u_new_name"].strip(), state["u_new_display"].strip() or None
    role = state["u_new_role"]
    run("add", name, auth.add_user, role, state["u_new_password"], display, detail={"role": role})
    for key in ("u_new_name", "u_new_display", "u_new_password"):
        state[key] = ""


users = pd.DataFrame(auth.list_users(data.engine()))
st.dataframe(
    pd.DataFrame(
        {
            "用户名": users["username"],
            "显示名": users["display_name"].fillna(""),
            "角色": users["role"].map(lambda r: labels.label("role", r)),
            "启用": users["active"].map(lambda a: "是" if a else "否"),
            "创建时间": local_time(users["created_at"], ctx.tz),
        }
    )
    if not users.empty
    else users,
    hide_index=True,
    width="stretch",
)

left, right = st.columns(2)
with left:
    st.subheader("新增用户")
    st.text_input("用户名", key="u_new_name")
    st.text_input("显示名（可选）", key="u_new_display")
    st.selectbox("角色", auth.ROLES, format_func=lambda r: labels.label("role", r), key="u_new_role")
    st.text_input("初始密码", type="password", key="u_new_password")
    st.button("新增", key="u_add", on_click=add)

with right:
    st.subheader("修改用户")
    names = list(users["username"]) if not users.empty else []
    who = st.selectbox("用户", names, key="u_who")
    st.text_input("新密码", type="password", key="u_password")
    st.selectbox("新角色", auth.ROLES, format_func=lambda r: labels.label("role", r), key="u_role")
    b1, b2, b3, b4 = st.columns(4)
    b1.button("重设密码", key="u_set_pw", on_click=change, args=("set-password",))
    b2.button("修改角色", key="u_set_role", on_click=change, args=("set-role",))
    b3.button("停用", key="u_disable", on_click=change, args=("disable",), disabled=who == ctx.user.username)
    b4.button("启用", key="u_enable", on_click=change, args=("enable",))

st.subheader("审计日志（最近 100 条）")
log = audit_frame(data.engine(), 100)
st.dataframe(
    pd.DataFrame(
        {
            "时间": local_time(log["at"], ctx.tz),
            "用户": log["user"].astype(str),
            "操作": log["action"].astype(str),
            "对象": log["target"].fillna("").astype(str),
        }
    ),
    hide_index=True,
    width="stretch",
)
