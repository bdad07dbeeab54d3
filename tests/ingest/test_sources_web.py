"""The ``web`` source against a local site (127.0.0.1): real shared pages, GBK, robots.txt, 429,
time-outs, changing ETags, template pagination, and a script-built list rendered by Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, select

from ingest.pipeline import Ingestor
from ingest.registry import build_source
from ingest.sources.web import WebOptions, WebSource
from ingest.web.extract import parse_html
from ingest.web.links import canonical_url, find_article_links
from ingest.web.polite import HostThrottle
from sensing.cli import cli
from storage import schema as s
from storage.db import make_engine
from storage.store import Store
from tests.ingest.conftest import (
    DATA,
    FAST_HTTP,
    Reply,
    ScriptedServer,
    count_documents,
    documents,
    ingest_runs,
)
from tests.ingest.web_site import LocalSite, notice_html

SHARED_PAGES = ("163-2", "sina-5", "gzggw-1", "shanxi-1", "xinhuanet-1")


def web_source(options: dict[str, Any], name: str = "gov_site") -> WebSource:
    base = {"request_interval_s": 0, "http": FAST_HTTP}
    source = build_source(name, "web", {**base, **options}, channel=None, timezone="Asia/Shanghai")
    assert isinstance(source, WebSource)
    return source


def crawl_stats(engine: Engine, name: str) -> dict[str, Any]:
    with engine.connect() as conn:
        cursor = conn.execute(select(s.sources.c.cursor).where(s.sources.c.name == name)).scalar_one()
    return dict(cursor["crawl"])


def shared_labels(shared_data: Path) -> dict[str, dict[str, Any]]:
    labels = (shared_data / "web_pages" / "labels.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in labels.splitlines()]
    return {r["id"]: r for r in rows if r["id"] in SHARED_PAGES}


def test_collects_a_site_end_to_end_and_a_second_run_fetches_only_new_articles(
    http_server: ScriptedServer, ingestor: Ingestor, engine: Engine, shared_data: Path
) -> None:
    labels = shared_labels(shared_data)
    site = LocalSite(http_server, per_page=3)
    folder = shared_data / "web_pages" / "pages"
    for page_id in SHARED_PAGES:
        body = (folder / f"{page_id}.html").read_bytes()
        site.add_page(f"/news/{page_id}.html", labels[page_id]["title"], Reply(body=body))
    gbk = (DATA / "web" / "gov_notice.html").read_bytes()
    site.add_page("/news/gbk.html", "关于开展城乡居民医保集中参保缴费工作的通知", Reply(body=gbk))
    site.add_page("/private/secret.html", "内部通知：不对外公开的文件目录", Reply(body=b"<p>secret</p>"))
    options = {"list_urls": [site.url()], "pagination": {"next_selector": "auto", "max_pages": 5}}

    first = ingestor.run(web_source(options))
    assert (first.status, first.new, first.fetched) == ("ok", 6, 7)  # fetched counts the skipped one
    assert dict(first.skipped) == {"robots": 1}
    assert not http_server.hits("/private/secret.html")  # robots.txt honoured
    docs = {d["url"].rsplit("/", 1)[-1]: d for d in documents(engine, "gov_site")}
    for page_id in SHARED_PAGES:
        doc, label = docs[f"{page_id}.html"], labels[page_id]
        assert doc["title"] == label["title"] and doc["channel"] == "gov"
        assert label["with"][1] in doc["content"]
        assert not any(bad in doc["content"] for bad in label["without"])
    gbk_doc = docs["gbk.html"]
    assert gbk_doc["title"] == "关于开展2024年城乡居民医保集中参保缴费工作的通知"
    assert gbk_doc["extra"]["charset"] == "gb18030"
    assert [a["title"] for a in gbk_doc["extra"]["attachments"]] == [
        "城乡居民医保参保登记表.pdf",
        "经办机构联系方式",
    ]
    stats = crawl_stats(engine, "gov_site")
    assert (stats["pages"], stats["articles_new"], stats["robots_refused"]) == (3, 6, 1)

    hits_before = len(http_server.requests)
    idle = ingestor.run(web_source(options))
    assert (idle.status, idle.new, idle.fetched) == ("ok", 0, 0)
    idle_paths = [r.path for r in http_server.requests[hits_before:]]
    assert "/news/index.html" in idle_paths and not any(p.endswith("163-2.html") for p in idle_paths)
    assert crawl_stats(engine, "gov_site")["lists_not_modified"] == 1

    site.add_notice(1)  # the list page changes: new ETag
    hits_before = len(http_server.requests)
    later = ingestor.run(web_source(options))
    assert (later.status, later.new, later.duplicates) == ("ok", 1, 0)
    fetched = [
        r.path
        for r in http_server.requests[hits_before:]
        if not r.path.startswith(("/news/index", "/robots"))
    ]
    assert fetched == ["/news/1.html"]
    stats = crawl_stats(engine, "gov_site")
    assert (stats["articles_new"], stats["articles_unchanged"]) == (1, 5)  # 2 on page 1, 3 on page 2
    assert count_documents(engine, "gov_site") == 7


def test_429_then_success_and_a_time_out_that_is_retried_next_run(
    http_server: ScriptedServer, sqlite_engine: Engine
) -> None:
    ingestor = Ingestor(Store(sqlite_engine), author_key="k")
    site = LocalSite(http_server)
    site.add_notice(1)
    page = notice_html(2).encode()
    site.add_page(
        "/news/busy.html",
        "关于第2批老旧小区改造项目的公示",
        Reply(429, headers={"Retry-After": "0"}),
        Reply(body=page),
    )
    slow = notice_html(3).encode()
    site.add_page("/news/slow.html", "关于第3批老旧小区改造项目的公示", Reply(body=slow, delay=1.5))
    options = {
        "list_urls": [site.url()],
        "http": {**FAST_HTTP, "read_timeout_s": 0.5, "retries": 1},
    }
    first = ingestor.run(web_source(options))
    assert (first.status, first.new) == ("ok", 2)
    assert dict(first.skipped) == {"fetch_failed": 1}
    assert len(http_server.hits("/news/busy.html")) == 2
    stats = crawl_stats(sqlite_engine, "gov_site")
    assert "slow.html" in stats["last_error"] and "time-out" in stats["last_error"]

    http_server.set("/news/slow.html", Reply(body=slow))  # back to normal
    second = ingestor.run(web_source(options))
    assert (second.status, second.new) == ("ok", 1)  # the list is unchanged but the failed one is retried
    assert {d["url"].rsplit("/", 1)[-1] for d in documents(sqlite_engine, "gov_site")} == {
        "1.html",
        "busy.html",
        "slow.html",
    }


def test_bad_pages_are_skipped_with_reasons_and_never_stop_the_run(
    http_server: ScriptedServer, sqlite_engine: Engine
) -> None:
    ingestor = Ingestor(Store(sqlite_engine), author_key="k")
    site = LocalSite(http_server, per_page=10)
    site.add_notice(1)
    broken = "<p>关于开展城乡居民医保工作的通知</p>".encode("gbk") + b"\x81\x20\xff\xfe\x80" * 40
    site.add_page(
        "/news/broken.html",
        "一个无法解码的页面标题文字",
        Reply(body=broken, headers={"Content-Type": "text/html; charset=gbk"}),
    )
    site.add_page("/news/gone.html", "一个已经删除的页面标题文字", Reply(404, b"gone"))
    site.add_notice(2)
    report = ingestor.run(web_source({"list_urls": [site.url()]}))
    assert (report.status, report.new) == ("ok", 2)
    assert dict(report.skipped) == {"undecodable": 1, "http_error": 1}
    assert all("\ufffd" not in d["content"] for d in documents(sqlite_engine, "gov_site"))
    again = ingestor.run(web_source({"list_urls": [site.url()]}))
    assert (again.new, again.fetched, again.n_skipped) == (
        0,
        0,
        0,
    )  # pages that will not change are remembered


def test_template_pagination_stops_at_max_pages_and_at_an_all_seen_page(http_server: ScriptedServer) -> None:
    site = LocalSite(http_server, per_page=2)
    for i in range(1, 8):
        site.add_notice(i)
    options = {
        "list_urls": [site.url()],
        "pagination": {"page_template": site.url("/news/index_{page}.html"), "max_pages": 3},
    }
    source = web_source(options)
    batches = list(source.fetch({}))
    titles = [i.title for b in batches for i in b.items]
    assert len(titles) == 6 and "关于第1批老旧小区改造项目的公示" not in titles  # page 4 is beyond max_pages
    assert not http_server.hits("/news/index_4.html")
    cursor = batches[-1].cursor
    assert cursor["crawl"]["pages"] == 3 and len(cursor["seen"]) == 6
    http_server.requests.clear()
    site.add_notice(8)
    items = [i for b in web_source(options).fetch(cursor) for i in b.items]
    assert [i.title for i in items] == ["关于第8批老旧小区改造项目的公示"]
    assert [r.path for r in http_server.requests if r.path.startswith("/news/index")] == [
        "/news/index.html",
        "/news/index_2.html",  # page 2 holds nothing new: stop
    ]


def test_links_by_selector_and_pattern(http_server: ScriptedServer) -> None:
    site = LocalSite(http_server)
    site.add_notice(1)
    site.add_notice(2, path="/news/special/2.html")
    only_special = web_source({"list_urls": [site.url()], "links": {"pattern": r"/special/"}})
    assert [i.url for b in only_special.fetch({}) for i in b.items] == [site.url("/news/special/2.html")]
    by_selector = web_source({"list_urls": [site.url()], "links": {"selector": "ul.list li:last-child a"}})
    assert [i.url for b in by_selector.fetch({}) for i in b.items] == [site.url("/news/1.html")]


def test_automatic_links_ignore_a_larger_block_of_links_to_other_sites() -> None:
    friends = "".join(
        f'<li><a href="http://gov{i}.example.cn/">示例省第{i}市人民政府网站</a></li>' for i in range(8)
    )
    hot = "".join(f'<li><a href="/zt/{i}.html">专题：优化营商环境第{i}期</a></li>' for i in range(5))
    notices = "".join(f'<li><a href="/tzgg/t2024_{i}.html">关于第{i}批项目的公示</a></li>' for i in range(3))
    html = f"<body><ul class='yqlj'>{friends}</ul><ul class='zt'>{hot}</ul><ul class='list'>{notices}</ul></body>"
    tree = parse_html(html)
    page = "http://www.example.gov.cn/tzgg/index.html"
    assert find_article_links(tree, page) == [f"http://www.example.gov.cn/zt/{i}.html" for i in range(5)]
    assert find_article_links(tree, page, pattern=r"/tzgg/t\d+_\d+\.html$") == [
        f"http://www.example.gov.cn/tzgg/t2024_{i}.html" for i in range(3)
    ]
    assert canonical_url("HTTP://WWW.Example.gov.cn:80/a.html?utm_source=x&id=3#top") == (
        "http://www.example.gov.cn/a.html?id=3"
    )


def test_an_unreachable_site_fails_the_run_with_the_reason(
    http_server: ScriptedServer, sqlite_engine: Engine
) -> None:
    http_server.set("/robots.txt", Reply(404))
    http_server.set("/news/index.html", Reply(503))
    report = Ingestor(Store(sqlite_engine), author_key="k").run(
        web_source({"list_urls": [http_server.url("/news/index.html")]})
    )
    assert report.status in ("failed", "partial") and "HTTP 503" in (report.error or "")
    (row,) = ingest_runs(sqlite_engine, "gov_site")
    assert "no list page could be read" in row["error"]


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="http"):
        WebOptions.model_validate({"list_urls": ["ftp://x"]})
    with pytest.raises(ValueError, match="regular expression"):
        WebOptions.model_validate({"list_urls": ["http://x"], "links": {"pattern": "("}})
    with pytest.raises(ValueError, match="links.selector"):
        WebOptions.model_validate({"list_urls": ["http://x"], "links": {"selector": "ul[[a"}})
    with pytest.raises(ValueError, match="overrides.body"):
        WebOptions.model_validate({"list_urls": ["http://x"], "overrides": {"body": "div >> p"}})
    with pytest.raises(ValueError, match="not both"):
        WebOptions.model_validate(
            {
                "list_urls": ["http://x"],
                "pagination": {"next_selector": "a", "page_template": "http://x/{page}"},
            }
        )


def test_host_throttle_spaces_requests_per_host() -> None:
    now = {"t": 0.0}
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now["t"] += seconds

    throttle = HostThrottle(2.0, 1, clock=lambda: now["t"], sleep=sleep)
    throttle.set_interval("http://slow.example/", 5.0)  # a robots.txt Crawl-delay
    for url in ("http://a.example/1", "http://a.example/2", "http://b.example/1", "http://slow.example/1"):
        throttle.run(url, lambda: None)  # type: ignore[arg-type, return-value]
    throttle.run("http://slow.example/2", lambda: None)  # type: ignore[arg-type, return-value]
    assert waits == [2.0, 5.0]  # a.example waits its 2 s, b.example nothing, slow.example its 5 s


def test_robots_crawl_delay_and_user_agent(http_server: ScriptedServer) -> None:
    site = LocalSite(http_server)
    http_server.set("/robots.txt", Reply(body=b"User-agent: minsheng-test\nDisallow: /news/\n"))
    site.add_notice(1)
    source = web_source({"list_urls": [site.url()], "http": {**FAST_HTTP, "user_agent": "minsheng-test/1.0"}})
    with pytest.raises(Exception, match="no list page could be read"):
        list(source.fetch({}))
    assert http_server.hits("/robots.txt")[0].headers["User-Agent"] == "minsheng-test/1.0"
    assert not http_server.hits("/news/index.html")
    assert not source.check().ok


def test_sensing_ingest_collects_the_site_on_both_databases(
    http_server: ScriptedServer, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = LocalSite(http_server)
    for i in (1, 2, 3):
        site.add_notice(i)
    monkeypatch.setenv("TEST_WEB_AUTHOR_KEY", "web-tests")
    source = {
        "name": "city_notices",
        "kind": "web",
        "channel": "gov",
        "options": {"list_urls": [site.url()], "request_interval_s": 0, "http": FAST_HTTP},
    }
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "app": {"data_dir": str(tmp_path / "var"), "author_hash_key": "$env:TEST_WEB_AUTHOR_KEY"},
                "database": {"url": db_url},
                "logging": {"level": "WARNING", "json_logs": False},
                "sources": [source],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    run = ["--config", str(config), "ingest", "--source", "city_notices"]
    first = CliRunner().invoke(cli, run, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "source city_notices: ok; fetched 3, new 3" in first.output
    site.add_notice(4)
    second = CliRunner().invoke(cli, run, catch_exceptions=False)
    assert "source city_notices: ok; fetched 1, new 1" in second.output
    engine = make_engine(db_url)
    try:
        docs = documents(engine, "city_notices")
    finally:
        engine.dispose()
    assert sorted(d["title"] for d in docs) == [f"关于第{i}批老旧小区改造项目的公示" for i in (1, 2, 3, 4)]
    assert {d["channel"] for d in docs} == {"gov"} and len(http_server.hits("/news/1.html")) == 1


SCRIPT_LIST = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>通知公告</title></head><body>
<ul id="list"></ul>
<script>
const items = [["/news/1.html", "关于第1批老旧小区改造项目的公示"], ["/news/2.html", "关于第2批老旧小区改造项目的公示"]];
for (const [href, text] of items) {
  const li = document.createElement("li"); const a = document.createElement("a");
  a.href = href; a.textContent = text; li.appendChild(a); document.getElementById("list").appendChild(li);
}
</script></body></html>"""


@pytest.mark.browser
def test_script_built_list_is_rendered_in_chromium(http_server: ScriptedServer) -> None:
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("/usr/bin/chromium is missing: apt-get install -y chromium (make system-deps)")
    site = LocalSite(http_server)
    site.add_notice(1)
    site.add_notice(2)
    http_server.set("/app/list.html", Reply(body=SCRIPT_LIST.encode(), headers={"Content-Type": "text/html"}))
    plain = web_source({"list_urls": [site.url("/app/list.html")]})
    assert [i for b in plain.fetch({}) for i in b.items] == []  # without a browser the list is empty
    rendered = web_source({"list_urls": [site.url("/app/list.html")], "render": "browser"})
    items = [i for b in rendered.fetch({}) for i in b.items]
    assert sorted(i.title or "" for i in items) == [
        "关于第1批老旧小区改造项目的公示",
        "关于第2批老旧小区改造项目的公示",
    ]
    assert len(http_server.hits("/news/1.html")) == 1  # articles over plain HTTP, once
