"""A small local web site on the scripted 127.0.0.1 server: list pages with pagination and articles.

List pages (``/news/index.html``, ``/news/index_2.html`` ...) show ``per_page`` article links,
newest first, with a 下一页 link, navigation and a footer around the list; each answers with an
ETag of its content and 304 to a matching ``If-None-Match``. ``robots.txt`` disallows
``/private/``. Articles are synthetic government notices (:func:`notice_html`) or any bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tests.ingest.conftest import Reply, Request, ScriptedServer

ROBOTS = "User-agent: *\nDisallow: /private/\n"


def notice_html(i: int, charset: str = "utf-8") -> str:
    """An article page: headline, date line, three paragraphs, a related list and a footer."""
    return f"""<!DOCTYPE html><html><head><meta charset="{charset}">
<title>关于第{i}批老旧小区改造项目的公示_通知公告_示例市人民政府</title></head><body>
<div class="nav"><a href="/">首页</a> <a href="/news/index.html">通知公告</a></div>
<div class="article"><h1>关于第{i}批老旧小区改造项目的公示</h1>
<div class="info">发布时间：2024-05-{1 + i % 28:02d} 10:{i % 60:02d} 来源：示例市住建局</div>
<div class="content">
<p>根据工作安排，现将第{i}批老旧小区改造项目名单予以公示，公示期为五个工作日。</p>
<p>本批项目涉及{i + 3}个小区，改造内容包括管网更新、加装电梯和外立面整治等。</p>
<p>公示期间如有异议，请以书面形式向市住建局反映，联系电话见附件第{i}号说明。</p>
<p><a href="/files/notice{i}.pdf">项目名单{i}.pdf</a></p>
</div></div>
<div class="related"><ul><li><a href="/news/old1.html">关于往年老旧小区改造的通知</a></li>
<li><a href="/news/old2.html">住建局年度工作总结的公告</a></li></ul></div>
<div class="footer">版权所有：示例市人民政府 网站标识码 0000000000</div>
</body></html>"""


@dataclass
class LocalSite:
    """The site's state: which articles the list shows, newest first."""

    server: ScriptedServer
    per_page: int = 3
    links: list[tuple[str, str]] = field(default_factory=list)  # (path, link text), newest first

    def __post_init__(self) -> None:
        self.server.set("/robots.txt", Reply(body=ROBOTS.encode(), headers={"Content-Type": "text/plain"}))
        self.server.set("/news/index.html", self._list(1))
        for n in range(2, 20):
            self.server.set(f"/news/index_{n}.html", self._list(n))

    def url(self, path: str = "/news/index.html") -> str:
        return self.server.url(path)

    def add_notice(self, i: int, path: str | None = None) -> str:
        """Publish notice ``i`` (served as UTF-8) at the top of the list; returns its path."""
        path = path or f"/news/{i}.html"
        body = notice_html(i).encode("utf-8")
        self.server.set(path, Reply(body=body, headers={"Content-Type": "text/html; charset=utf-8"}))
        self.links.insert(0, (path, f"关于第{i}批老旧小区改造项目的公示"))
        return path

    def add_page(self, path: str, text: str, *replies: Reply) -> None:
        """Publish any page at the top of the list, answered by ``replies`` in turn."""
        self.server.set(path, *replies)
        self.links.insert(0, (path, text))

    def page_html(self, n: int) -> str:
        shown = self.links[(n - 1) * self.per_page : n * self.per_page]
        items = "".join(f'<li><a href="{p}">{t}</a><span>2024-05-01</span></li>' for p, t in shown)
        more = len(self.links) > n * self.per_page
        nxt = f'<a class="next" href="/news/index_{n + 1}.html">下一页</a>' if more else ""
        return (
            "<html><head><meta charset='utf-8'><title>通知公告</title></head><body>"
            "<div class='nav'><a href='/'>首页</a><a href='/zwgk/'>政务公开</a></div>"
            f"<ul class='list'>{items}</ul><div class='page'>{nxt}</div>"
            "<div class='footer'>版权所有：示例市人民政府</div></body></html>"
        )

    def _list(self, n: int):  # type: ignore[no-untyped-def]
        def answer(request: Request) -> Reply:
            body = self.page_html(n).encode("utf-8")
            etag = '"' + hashlib.sha1(body).hexdigest()[:12] + '"'
            if request.headers.get("If-None-Match") == etag:
                return Reply(304, headers={"ETag": etag})
            return Reply(body=body, headers={"ETag": etag, "Content-Type": "text/html; charset=utf-8"})

        return answer
