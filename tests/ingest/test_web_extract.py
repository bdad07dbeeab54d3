"""Article extraction (ingest.web.extract) and page decoding (ingest.web.decode)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.web.decode import UndecodableError, decode_html
from ingest.web.evaluate import load_labels, page_html, run, score_page, trafilatura_defaults
from ingest.web.extract import Overrides, clean_body, extract_article
from ingest.web.meta import strip_site_name
from tests.ingest.conftest import DATA

GOV_NOTICE = DATA / "web" / "gov_notice.html"
TEXT = "关于开展城乡居民医保集中参保缴费工作的通知，各县（市、区）医疗保障局"
TEXT_BIG5 = "關於開展城鄉居民醫保集中參保繳費工作的通知，各縣（市、區）醫療保障局"


def test_gbk_page_declared_in_meta_decodes() -> None:
    page = decode_html(GOV_NOTICE.read_bytes())
    assert (page.charset, page.how) == ("gb18030", "meta")
    assert "城乡居民医保" in page.text


@pytest.mark.parametrize("codec", ["gbk", "gb18030", "big5"])
def test_charset_from_the_http_header_wins_over_detection(codec: str) -> None:
    text = TEXT_BIG5 if codec == "big5" else TEXT
    body = f"<html><body><p>{text}</p></body></html>".encode(codec)
    page = decode_html(body, header_charset=codec)
    assert text in page.text and page.how == "header"


def test_undeclared_gbk_page_is_detected() -> None:
    body = f"<html><body><p>{TEXT * 3}</p></body></html>".encode("gbk")
    page = decode_html(body)
    assert TEXT in page.text and page.how == "detected"


def test_utf8_page_with_a_stale_gb2312_meta_tag_reads_as_utf8() -> None:
    body = f'<html><head><meta charset="gb2312"></head><body><p>{TEXT}</p></body></html>'.encode()
    assert TEXT in decode_html(body).text


def test_a_page_no_charset_decodes_is_refused_not_stored_as_mojibake() -> None:
    broken = f"<html><body><p>{TEXT}</p>".encode("gbk") + b"\x81\x20\xff\xfe\x80" * 40 + b"</body></html>"
    with pytest.raises(UndecodableError, match="no charset decodes"):
        decode_html(broken, header_charset="gbk")


def test_gov_notice_title_date_author_body_attachments() -> None:
    html = decode_html(GOV_NOTICE.read_bytes()).text
    article = extract_article(html, url="http://gov.example.cn/tzgg/3.html", tz="Asia/Shanghai")
    assert article.title == "关于开展2024年城乡居民医保集中参保缴费工作的通知"
    assert article.published == datetime(2024, 3, 5, 2, 21, tzinfo=UTC)  # 10:21 in Shanghai
    assert article.author == "市医保局"
    assert "为做好2024年度城乡居民基本医疗保险参保缴费工作" in article.text
    assert "逾期缴费的设置待遇等待期" in article.text
    for furniture in ("关于做好2023年城乡居民医保工作的通知", "版权所有", "政务公开", "浏览次数"):
        assert furniture not in article.text
    assert [(a.url, a.name) for a in article.attachments] == [
        ("http://gov.example.cn/files/2024/canbao.pdf", "城乡居民医保参保登记表.pdf"),
        ("http://gov.example.cn/files/2024/list.xlsx", "经办机构联系方式"),
    ]
    as_json = article.as_json("Asia/Shanghai")
    assert as_json["published"] == "2024-03-05T10:21:00+08:00"
    assert json.loads(json.dumps(as_json, ensure_ascii=False)) == as_json


def test_overrides_replace_the_rules() -> None:
    html = decode_html(GOV_NOTICE.read_bytes()).text
    overrides = Overrides(title=".related h3", published=".header-date", body=".related ul")
    article = extract_article(html, overrides=overrides)
    assert article.title == "相关文件"
    assert article.published == datetime(2024, 11, 30, 16, 0, tzinfo=UTC)
    assert "关于做好2023年城乡居民医保工作的通知" in article.text


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("多地项目连环爆雷_网易财经", "多地项目连环爆雷"),
        ("法国全国大罢工再次严重影响交通-新华网", "法国全国大罢工再次严重影响交通"),
        ("山西品牌丝路行正式启动 - 山西省人民政府门户网站", "山西品牌丝路行正式启动"),
        ("苹果发布新iPhone 11|苹果|新品_电信_新浪科技_", "苹果发布新iPhone 11"),
        ("1-10月德清县固定资产投资结构趋稳趋优", "1-10月德清县固定资产投资结构趋稳趋优"),
    ],
)
def test_strip_site_name(title: str, expected: str) -> None:
    assert strip_site_name(title) == expected


def test_clean_body_drops_promotions_and_what_follows_the_editor_line() -> None:
    text = "\n".join(
        [
            "标题",
            "安装新浪财经客户端第一时间接收最全面的市场资讯→【下载地址】",
            "第一段正文，足够长的一段话。" * 3,
            "第二段正文，足够长的一段话。" * 3,
            "责任编辑：张三",
            "热门推荐：某某新闻",
        ]
    )
    cleaned = clean_body(text, "标题")
    assert cleaned.splitlines() == ["第一段正文，足够长的一段话。" * 3, "第二段正文，足够长的一段话。" * 3]


def test_bench_scores_the_shared_pages_above_the_targets_and_the_baseline(shared_data: Path) -> None:
    folder = shared_data / "web_pages"
    results = run(folder)
    ours, base = results["minsheng"]["all"], results["trafilatura defaults"]["all"]
    assert ours["title"] >= 0.95 and ours["published"] >= 0.90
    assert ours["recall"] >= 0.95 and ours["precision"] >= 0.90
    assert ours["precision"] > base["precision"] and ours["title"] > base["title"]


def test_score_page_counts_snippets(shared_data: Path) -> None:
    folder = shared_data / "web_pages"
    label = load_labels(folder)[0]
    got = trafilatura_defaults(page_html(folder, label), None)
    figures = score_page(label, got)
    assert set(figures) == {"title", "published", "day", "recall", "precision"}
    assert all(0.0 <= v <= 1.0 for v in figures.values())


PARAGRAPHS = "".join(
    f"<p>第{n}段：市政府常务会议研究部署了城市更新和老旧小区改造工作，要求各区按时完成年度任务。</p>"
    for n in range(1, 6)
)


def test_title_from_h1_when_the_title_tag_names_only_the_site() -> None:
    html = (
        "<html><head><title>示例市人民政府</title></head><body>"
        "<h1>关于进一步做好城市更新工作的实施意见</h1>"
        f"<div>2024-03-05 来源：市政府办公室</div><div class='content'>{PARAGRAPHS}</div></body></html>"
    )
    article = extract_article(html)
    assert article.title == "关于进一步做好城市更新工作的实施意见"
    assert article.published == datetime(2024, 3, 4, 16, 0, tzinfo=UTC)


def test_a_labelled_date_away_from_the_headline_wins_over_meta() -> None:
    html = (
        "<html><head><title>城市更新实施意见_示例市</title>"
        "<meta property='article:published_time' content='2024-03-06T09:00:00+08:00'></head><body>"
        "<h1>城市更新实施意见</h1><div class='content'>" + PARAGRAPHS + "</div>"
        "<div class='info'>浏览次数：12 发布时间：2024年3月5日 10:21</div></body></html>"
    )
    assert extract_article(html).published == datetime(2024, 3, 5, 2, 21, tzinfo=UTC)


def test_an_article_inside_a_container_named_like_furniture_is_recovered() -> None:
    html = (
        "<html><head><title>城市更新实施意见_示例市</title></head><body>"
        "<div class='nav'><a href='/'>首页</a></div>"
        f"<div class='share-content'><h1>城市更新实施意见</h1>{PARAGRAPHS}</div></body></html>"
    )
    text = extract_article(html).text
    assert "第1段" in text and "第5段" in text


def test_a_badge_inside_the_headline_is_not_part_of_the_title() -> None:
    html = (
        "<html><head><title>城市更新实施意见出台_示例新闻网</title></head><body>"
        "<h1><span class='badge'>原创</span>城市更新实施意见出台</h1>"
        f"<div>2024-03-05 10:21 来源：示例日报</div><div>{PARAGRAPHS}</div></body></html>"
    )
    assert extract_article(html).title == "城市更新实施意见出台"


def test_a_bracketed_editor_line_ends_the_body() -> None:
    body = "\n".join(
        [
            "第一段正文，足够长的一段话。" * 3,
            "第二段正文，足够长的一段话。" * 3,
            "【责任编辑：张三】",
            "热点推荐标题",
        ]
    )
    assert clean_body(body).splitlines()[-1] == "第二段正文，足够长的一段话。" * 3


def test_title_from_a_title_classed_cell_when_the_title_tag_is_the_site_name() -> None:
    html = (
        "<html><head><title>示例市人民政府门户网站</title></head><body>"
        "<div class='logo'>示例市人民政府门户网站</div><table><tr><td class='bt_title'>"
        "关于印发示例市城市更新三年行动方案的通知</td></tr>"
        f"<tr><td>发布日期：2024-03-05</td></tr><tr><td>{PARAGRAPHS}</td></tr></table></body></html>"
    )
    article = extract_article(html)
    assert article.title == "关于印发示例市城市更新三年行动方案的通知"
    assert article.published == datetime(2024, 3, 4, 16, 0, tzinfo=UTC)


def test_a_date_line_without_time_takes_the_time_of_the_same_day_from_meta() -> None:
    html = (
        "<html><head><title>城市更新实施意见_示例市</title>"
        "<meta name='PubDate' content='2024-03-05 10:21'></head><body>"
        f"<h1>城市更新实施意见</h1><div>2024年03月05日 来源：示例日报</div><div>{PARAGRAPHS}</div></body></html>"
    )
    assert extract_article(html).published == datetime(2024, 3, 5, 2, 21, tzinfo=UTC)
    other_day = html.replace("2024-03-05 10:21", "2024-03-07 10:21")
    assert extract_article(other_day).published == datetime(2024, 3, 4, 16, 0, tzinfo=UTC)  # the page wins


def test_body_lines_about_scanning_a_code_to_register_are_kept() -> None:
    lines = [
        "即日起市民可通过微信扫码预约城乡居民医保参保登记，也可到社区服务中心办理。",
        "该话题引发网友广泛关注，微博话题阅读量超过一亿次。",
        "更多猛料！欢迎扫描左方二维码关注新浪新闻官方微信（xinlang-xinwen）",
        "微信扫一扫",
        "关注该公众号",
    ]
    assert clean_body("\n".join(lines)).splitlines() == lines[:2]


def test_a_paragraph_with_keyword_links_is_body_not_a_link_list() -> None:
    html = (
        "<html><head><title>关于公示2024年度示范项目名单的通知_示例市发改委</title></head><body>"
        "<div class='nav'><a href='/'>首页</a><a href='/tzgg/'>通知公告</a></div>"
        "<h1>关于公示2024年度示范项目名单的通知</h1><div>发布日期：2024-03-05</div>"
        f"<div class='content'><div>现将2024年度示范项目名单予以公示，公示期五个工作日。</div>{PARAGRAPHS}"
        "<div><a href='/files/a.pdf'>附件1：2024年度示范项目名单（第一批）.pdf</a>"
        "<a href='/files/b.docx'>附件2：示范项目异议申请表.docx</a></div>"
        "<p><a href='/k/hw'>华为技术有限公司</a>与<a href='/k/zx'>中兴通讯股份有限公司</a>入选。</p></div>"
        "</body></html>"
    )
    article = extract_article(html, url="http://fgw.example.gov.cn/tzgg/1.html")
    assert "公示期五个工作日" in article.text
    assert "华为技术有限公司与中兴通讯股份有限公司入选" in article.text  # one line, as on the page
    assert len(article.attachments) == 2


def test_a_sentence_split_over_spans_comes_out_as_one_line() -> None:
    spans = "".join(
        f"<section><span>第{n}段前半句，屏幕尺寸为6.2英寸，</span><span>第{n}段后半句，非常适合单手握持。</span></section>"
        for n in range(1, 6)
    )
    html = f"<html><head><title>新品发布_示例</title></head><body><h1>新品发布</h1><div id='js_content'>{spans}</div></body></html>"
    text = extract_article(html).text
    assert "第3段前半句，屏幕尺寸为6.2英寸，第3段后半句，非常适合单手握持。" in text.splitlines()


def test_the_banner_h1_is_not_taken_for_the_headline() -> None:
    html = (
        "<html><head><title>示例省人民政府门户网站</title></head><body>"
        "<div class='top'><h1>示例省人民政府网站</h1></div>"
        "<h2>关于印发城市更新行动方案的通知（2024—2026年）</h2>"
        f"<div>发布日期：2024-03-05</div><div>{PARAGRAPHS}</div></body></html>"
    )
    assert extract_article(html).title == "关于印发城市更新行动方案的通知（2024—2026年）"


def test_a_relative_date_line_is_read_against_the_fetch_time_only_as_a_last_resort() -> None:
    html = (
        "<html><head><title>城市更新实施意见_示例市</title></head><body>"
        f"<h1>城市更新实施意见</h1><div>3小时前 来源：示例日报</div><div>{PARAGRAPHS}</div></body></html>"
    )
    fetched = datetime(2024, 3, 5, 6, 0, tzinfo=UTC)
    assert extract_article(html, now=fetched).published == datetime(2024, 3, 5, 3, 0, tzinfo=UTC)
    assert extract_article(html).published is None  # a saved page without a fetch time: unknown
