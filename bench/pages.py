"""Benchmark: render time of every dashboard page (Streamlit AppTest) on a generated store.

For each page in ``dashboard/app_pages/`` the script logs in as an admin, pins the clock to the
store's newest document and renders the page three ways (after an untimed pass over every page:
imports and the first use of Streamlit and Plotly are paid once per server process):

* ``cold``: fresh ``st.cache_data`` / ``st.cache_resource`` (a new engine, so SQLite's own page
  cache is empty too; the OS file cache stays warm), the first view after a TTL expiry;
* ``warm``: a second run in the same session, every loader cached (a user clicking around);
* ``filtered``: then one sidebar filter set (a category; a province on 地域分布, a channel on
  数据源健康), so the filtered reads are cold and the rest warm. Pages that ignore the sidebar
  (报告, 复核队列, 用户管理) are not filtered.

数据源健康 shows model drift over the last 12 weeks in its own runs; it is also timed over every
week (``sources+drift all``): cold = the run after switching the span (drift not yet cached, the
rest warm), warm = its rerun. A page that raises,
or that does not show its title, is reported as a failure. ``--profile`` lists, per page, the
slowest SQL statements of each cold run (and drift run) and the storage function that ran them.

Nothing is written: exports and buttons are never clicked. The store has no users, so the login
check (:func:`dashboard.auth.active_user`) is replaced in this process by one that accepts the
benchmark's admin. Headline, last: the worst cold render over all pages (target: under 2 s).

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python -m bench.pages --db var/bench.db [--repeat 3]
[--period 最近30天] [--profile]`` (build the store first with ``python -m bench.generate``). The
machine is shared: ``--repeat`` prints the median of several passes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml
from sqlalchemy import Engine, event, func, select
from streamlit.testing.v1 import AppTest

from bench import machine
from dashboard import auth
from dashboard.filters import DEFAULT_PRESET, PRESETS, STATE_KEY
from storage import schema as s
from storage.db import make_engine

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "streamlit_app.py"
PAGES = sorted(p.stem for p in (REPO / "dashboard" / "app_pages").glob("*.py"))
ADMIN: dict[str, Any] = {"username": "bench_admin", "role": "admin", "display_name": "基准测试", "epoch": 0}
LOGIN_TITLE = "民声 · 舆情态势感知"
UNFILTERED = ("reports", "review", "users")  # pages that ignore the sidebar filters
FILTER_KEYS = {"regions": "f_provinces", "sources": "f_channels"}  # default: f_categories
TARGET_S = 2.0


@dataclass
class PageTiming:
    """One page's render times (None: not measured) and what went wrong."""

    page: str
    cold: float | None = None
    warm: float | None = None
    filtered: float | None = None
    filter_note: str = ""
    failures: list[str] = field(default_factory=list)
    sql: dict[str, list[tuple[float, str, str]]] = field(default_factory=dict)  # run -> statements


@dataclass(frozen=True)
class Scenario:
    """What every run shares: the pinned clock, the filter values to try, the period preset, the time-out."""

    now: datetime
    options: dict[str, list[str]]
    period: str = DEFAULT_PRESET
    timeout: float = 600.0


@dataclass
class SqlLog:
    """SQL statements timed while ``active`` (``--profile``): (seconds, caller, statement) of the current run."""

    active: bool = False
    records: list[tuple[float, str, str]] = field(default_factory=list)


SQL = SqlLog()


def _caller() -> str:
    """``data.<loader> > <storage module>.<function>``: who ran the statement being executed."""
    frame: Any = sys._getframe(2)
    loader, reader = "", ""
    while frame is not None:
        path = frame.f_code.co_filename
        if not reader and f"{os.sep}storage{os.sep}" in path:
            reader = f"{Path(path).stem}.{frame.f_code.co_name}"
        if path.endswith(os.path.join("dashboard", "data.py")):
            loader = f"data.{frame.f_code.co_name}"  # keep walking: the outermost loader wins
        elif not loader and f"{os.sep}dashboard{os.sep}" in path:
            loader = f"{Path(path).stem}:{frame.f_lineno}"
        frame = frame.f_back
    return " > ".join(p for p in (loader, reader) if p) or "?"


def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    conn.info.setdefault("bench_t0", []).append(time.perf_counter())


def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
    started = conn.info["bench_t0"].pop()
    if SQL.active:
        SQL.records.append((time.perf_counter() - started, _caller(), " ".join(statement.split())))


def install_sql_timer() -> None:
    """Time every statement of every engine (the app's engines are created inside the pages)."""
    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)


def store_facts(engine: Engine) -> tuple[int, datetime, dict[str, list[str]]]:
    """Documents, the newest publication time and the filter values to try."""
    from storage.queries import filter_options

    d = s.documents
    with engine.connect() as conn:
        count = int(conn.execute(select(func.count()).select_from(d)).scalar_one())
        newest = conn.execute(select(func.max(d.c.published_at))).scalar_one()
    if newest is None:
        raise SystemExit("the store has no documents: build it with python -m bench.generate")
    return count, pd.Timestamp(newest).tz_convert("UTC").to_pydatetime(), filter_options(engine)


@contextmanager
def dashboard_config(url: str) -> Iterator[None]:
    """``SENSING_CONFIG`` pointing at a config on ``url`` (reports in a temporary folder) for the run."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("SENSING_")}
    with tempfile.TemporaryDirectory(prefix="bench_pages_") as tmp:
        cfg = {"database": {"url": url}, "reports": {"out_dir": str(Path(tmp) / "reports")}}
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
        for key in saved:
            del os.environ[key]
        os.environ["SENSING_CONFIG"] = str(path)
        try:
            yield
        finally:
            os.environ.pop("SENSING_CONFIG", None)
            os.environ.update(saved)


def _accept_admin(engine: Engine, username: str) -> auth.User | None:
    return auth.User(ADMIN["username"], ADMIN["role"], ADMIN["display_name"])


def timed_run(at: AppTest, page: str, what: str, timing: PageTiming) -> float:
    """Run ``at`` (already switched or changed), return seconds; record exceptions and a missing title."""
    SQL.records = []
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    if SQL.active:
        timing.sql[what] = SQL.records
    for exc in at.exception:
        timing.failures.append(f"{what}: {exc.message.splitlines()[0] if exc.message else exc}")
    title = at.title[0].value if at.title else None
    if not at.exception and (title is None or title == LOGIN_TITLE):
        timing.failures.append(f"{what}: page {page} not shown (title {title!r})")
    return seconds


def open_cold(page: str, sc: Scenario) -> AppTest:
    """A fresh session on ``page`` with every Streamlit cache cleared (not yet run)."""
    quiet_streamlit()  # each AppTest run resets Streamlit's log level from its config
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=sc.timeout)
    at.session_state["sensing_now"] = sc.now
    at.session_state["auth_user"] = dict(ADMIN)
    if sc.period != DEFAULT_PRESET:
        at.session_state["f_range"] = sc.period
    return at.switch_page(f"app_pages/{page}.py")


def first_value(values: list[str], prefer: str | None = None) -> str | None:
    known = [v for v in values if v]
    return prefer if prefer in known else (known[0] if known else None)


def measure_page(page: str, sc: Scenario) -> PageTiming:
    timing = PageTiming(page)
    at = open_cold(page, sc)
    timing.cold = timed_run(at, page, "cold", timing)
    timing.warm = timed_run(at, page, "warm", timing)
    if page in UNFILTERED:
        timing.filter_note = "ignores filters"
        return timing
    key = FILTER_KEYS.get(page, "f_categories")
    pool = {"f_provinces": sc.options["provinces"], "f_channels": sc.options["channels"]}.get(
        key, sc.options["categories"]
    )
    value = first_value(pool, "social" if key == "f_channels" else None)
    if value is None:
        timing.filter_note = f"no value for {key}"
        return timing
    timing.filter_note = f"{key.removeprefix('f_')}={value}"
    at.sidebar.multiselect(key=key).set_value([value])
    timing.filtered = timed_run(at, page, "filtered", timing)
    applied = at.session_state.get(STATE_KEY)
    if value not in getattr(applied, key.removeprefix("f_"), ()):
        timing.failures.append(f"filtered: {key} not applied ({applied})")
    return timing


def drift_shown(at: AppTest) -> bool:
    return any(m.label == "数据源 × 周" for m in at.metric)


def check_drift(at: AppTest, timing: PageTiming) -> None:
    if not drift_shown(at) and not at.exception:
        timing.failures.append("drift table not shown")


def measure_drift(sc: Scenario) -> list[PageTiming]:
    """数据源健康 with its model drift over every week (the page's own run shows the default span):
    the run after switching the span (drift for every week not yet cached, the rest warm), then its
    rerun."""
    every = PageTiming("sources+drift all")
    at = open_cold("sources", sc)
    timed_run(at, "sources", "cold", every)
    check_drift(at, every)
    spans = [w for w in at.selectbox if w.key == "drift_span"]
    if not spans:
        every.failures.append("no drift span selector")
        return [every]
    spans[0].set_value("全部")
    every.cold = timed_run(at, "sources", "drift on", every)
    every.warm = timed_run(at, "sources", "warm", every)
    every.filter_note = "span=全部"
    check_drift(at, every)
    return [every]


def quiet_streamlit() -> None:
    """Silence Streamlit's bare-mode chatter (clearing caches outside a script run logs warnings) and
    show errors in full (the app's .streamlit/config.toml redacts them for users)."""
    from streamlit import config
    from streamlit.logger import set_log_level

    set_log_level("error")
    config.set_option("client.showErrorDetails", "full", "bench.pages")  # failures quote the error


def fmt_s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def print_profile(timing: PageTiming, top: int) -> None:
    for what in ("cold", "drift on"):
        records = timing.sql.get(what)
        if records is None:
            continue
        total = sum(r[0] for r in records)
        print(f"  [{timing.page}, {what}] {len(records)} statements, {total:.2f} s in SQL; slowest:")
        for seconds, caller, statement in sorted(records, reverse=True)[:top]:
            print(f"    {seconds * 1000:8.0f} ms  {caller}  {statement[:150]}")


def run_pass(pages: list[str], sc: Scenario) -> list[PageTiming]:
    """Every page once (数据源健康 also with drift over every week)."""
    timings: list[PageTiming] = []
    for page in pages:
        timings.append(measure_page(page, sc))
        if page == "sources":
            timings += measure_drift(sc)
    return timings


def median_of(runs: list[PageTiming]) -> PageTiming:
    """One row from repeated passes: median times, every failure, the first pass's SQL."""

    def med(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(statistics.median(known)) if known else None

    first = runs[0]
    return PageTiming(
        first.page,
        med([r.cold for r in runs]),
        med([r.warm for r in runs]),
        med([r.filtered for r in runs]),
        first.filter_note,
        sorted({f for r in runs for f in r.failures}),
        first.sql,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="var/bench.db", help="SQLite store (see bench/generate.py)")
    parser.add_argument("--url", default=None, help="database URL instead of --db")
    parser.add_argument("--pages", nargs="*", default=PAGES, help=f"pages to time (default all: {PAGES})")
    parser.add_argument("--period", default=DEFAULT_PRESET, choices=list(PRESETS), help="sidebar period")
    parser.add_argument("--repeat", type=int, default=1, help="passes over the pages; medians are printed")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first pass")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one page run may take")
    parser.add_argument("--profile", action="store_true", help="list the slowest SQL of each cold run")
    parser.add_argument("--top", type=int, default=5, help="statements listed per page with --profile")
    args = parser.parse_args()
    url = args.url or f"sqlite:///{Path(args.db).resolve()}"
    if args.url is None and not Path(args.db).exists():
        raise SystemExit(f"{args.db} does not exist: build it with python -m bench.generate")
    engine = make_engine(url)
    count, now, options = store_facts(engine)
    engine.dispose()
    print(machine.describe())
    print(f"documents: {count:,} (newest {now:%Y-%m-%d %H:%M} UTC, the pinned clock); period: {args.period}")
    sc = Scenario(now, options, args.period, args.timeout)
    quiet_streamlit()
    auth.active_user = _accept_admin  # type: ignore[assignment]
    install_sql_timer()
    with dashboard_config(url):
        if not args.no_warmup:  # imports, regex and plotly set-up are paid once per server process
            started = time.perf_counter()
            run_pass(args.pages, sc)
            print(
                f"warm-up pass (first use in the process, not counted): {time.perf_counter() - started:.1f} s"
            )
        SQL.active = args.profile
        passes = [run_pass(args.pages, sc) for _ in range(max(1, args.repeat))]
    timings = [median_of(list(rows)) for rows in zip(*passes, strict=True)]
    if args.profile:
        for timing in timings:
            print_profile(timing, args.top)
    print(f"\n{'page':<18}{'cold s':>8}{'warm s':>8}{'filtered s':>12}  filter / note")
    for t in timings:
        flag = " *" if t.cold is not None and t.cold > TARGET_S else ""
        print(
            f"{t.page:<18}{fmt_s(t.cold):>8}{fmt_s(t.warm):>8}{fmt_s(t.filtered):>12}  {t.filter_note}{flag}"
        )
    failures = [(t.page, f) for t in timings for f in t.failures]
    for page, failure in failures:
        print(f"FAILED {page}: {failure}")
    print(
        f"passes: {len(passes)} (medians); pages over {TARGET_S:g} s cold (*): "
        f"{sum(1 for t in timings if (t.cold or 0) > TARGET_S)}; failures: {len(failures)}"
    )
    worst = max(t.cold for t in timings if t.cold is not None)
    print(f"worst_page_cold_s: {worst:.2f} s")


if __name__ == "__main__":
    main()
