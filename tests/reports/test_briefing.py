"""Briefings against a scripted OpenAI-compatible server on 127.0.0.1: each answer ends as documented."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from kernel.settings import LlmSettings, Settings
from reports.briefing import BriefingError, period_bounds, write_briefing
from reports.briefing_facts import build_facts
from reports.weekly import build_period_report
from sensing.commands.brief import brief_cmd
from storage import schema as s
from storage.briefings import latest_briefing
from tests.llm_server import Reply, ScriptedLlm, completion, scripted_llm, tool_call
from tests.reports.conftest import MOBILE, NOW, PREV, START, WEEK
from tests.seed import SeedFacts, seed_database


@pytest.fixture
def server() -> Iterator[ScriptedLlm]:
    with scripted_llm() as srv:
        yield srv


def llm_settings(server: ScriptedLlm, **kw: object) -> Settings:
    llm = LlmSettings(base_url=server.url, model="qwen-test", timeout_seconds=1.0, **kw)  # type: ignore[arg-type]
    return Settings(llm=llm)


def week_facts(engine: Engine, settings: Settings) -> dict[str, str]:
    label, prev, start, end = period_bounds("weekly", WEEK, NOW, settings.app.timezone)
    return build_facts(build_period_report(engine, settings, start, end, label, prev), "weekly").facts


def fact_id(facts: dict[str, str], prefix: str) -> str:
    return next(k for k, v in facts.items() if v.startswith(prefix))


def numbers(fact: str) -> list[str]:
    return re.findall(r"本期 ([\d,.]+)", fact)


def correct_text(facts: dict[str, str]) -> str:
    total, neg = fact_id(facts, "文档总量"), fact_id(facts, "负面占比")
    top = fact_id(facts, "热点议题排行·第1位")
    issue = re.search(r"议题 ([^；]+)", facts[top])[1]  # type: ignore[index]
    heat = re.search(r"热度（0–100） ([\d.]+) 分", facts[top])[1]  # type: ignore[index]
    return (
        "态势概述\n"
        f"本期共收集文档 {numbers(facts[total])[0]} 条[{total}]。负面占比 {numbers(facts[neg])[0]}%[{neg}]。\n"
        "重点议题\n"
        f"热度排名第一的议题是「{issue}」，热度 {heat} 分[{top}]。\n"
        "处置建议\n建议相关部门加强巡查，及时回应群众关切。"
    )


@pytest.fixture
def seeded_sqlite(sqlite_engine: Engine) -> tuple[Engine, SeedFacts]:
    return sqlite_engine, seed_database(sqlite_engine, NOW)


def test_a_correct_briefing_is_verified_and_stored(
    seeded: tuple[Engine, SeedFacts], server: ScriptedLlm
) -> None:
    engine, seed = seeded
    settings = llm_settings(server)
    facts = week_facts(engine, settings)
    server.script(completion(correct_text(facts)))
    briefing = write_briefing(engine, settings, "weekly", WEEK, requested_by="ana", now=NOW)
    assert briefing.status == "verified" and briefing.removed == [] and briefing.error is None
    assert briefing.verification["checked_figures"] == 4  # count, share, rank, heat
    assert briefing.text.startswith("【态势概述】") and "【处置建议】\n建议相关部门加强巡查" in briefing.text
    stored = latest_briefing(engine, "weekly")
    assert stored is not None and stored.id == briefing.id and stored.text == briefing.text
    assert stored.model == "qwen-test" and stored.facts["facts"] == facts and stored.checked_figures == 4
    with engine.connect() as conn:
        call = conn.execute(select(s.llm_calls)).one()
    assert call.outcome == "ok" and call.prompt_tokens == 123 and stored.llm_call_id == call.id
    sent = json.dumps(server.requests[0]["body"], ensure_ascii=False)
    assert not MOBILE.search(sent)  # only masked text leaves Minsheng
    assert all(f"[{k}] {v}" in sent for k, v in facts.items())


def test_wrong_numbers_invented_and_foreign_ids_are_removed_with_reasons(
    seeded: tuple[Engine, SeedFacts], server: ScriptedLlm
) -> None:
    engine, seed = seeded
    settings = llm_settings(server)
    facts = week_facts(engine, settings)
    total = fact_id(facts, "文档总量")
    wrong = int(numbers(facts[total])[0].replace(",", "")) + 7
    old_doc = next(d.id for d in seed.docs if PREV <= d.published_at < START)
    text = correct_text(facts).replace(
        "处置建议\n",
        f"风险提示\n本期文档 {wrong} 条[{total}]。另有 {wrong} 条诉求积压[F999]。"
        f"有市民反映燃气泄漏[D{old_doc}]。\n处置建议\n",
    )
    server.script(completion(text))
    briefing = write_briefing(engine, settings, "weekly", WEEK, now=NOW, requested_by="ana")
    reasons = [r["reason"] for r in briefing.removed]
    assert reasons == [
        f"数字「{wrong} 条」与所引事实不符",
        "引用了不存在的事实 [F999]",
        f"引用的文档 [D{old_doc}] 不是本期提供的文档",
    ]
    assert briefing.status == "fallback"  # 3 of 6 claim sentences failed: more than 30 %
    assert "以下为系统按模板生成的概述" in briefing.text and "【未通过核验】" in briefing.text
    lenient = llm_settings(server, max_failed_share=0.6)
    server.script(completion(text))
    kept = write_briefing(engine, lenient, "weekly", WEEK, now=NOW, requested_by="ana")
    assert kept.status == "verified" and f"{wrong} 条" not in kept.text.split("【未通过核验】")[0]


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (completion("", tool_calls=[tool_call("query", "{oops")]), "bad_response"),
        (completion("", refusal="无法回答该问题"), "refused"),
        (Reply(status=429, body={}, headers={"retry-after": "0"}), "rate_limited"),
        (Reply(delay=1.5, body={}), "timeout"),
    ],
)
def test_a_failed_call_stores_the_template_briefing(
    seeded_sqlite: tuple[Engine, SeedFacts], server: ScriptedLlm, reply: Reply, outcome: str
) -> None:
    engine, _ = seeded_sqlite
    server.script(reply)
    briefing = write_briefing(engine, llm_settings(server), "daily", "2026-11-21", now=NOW)
    assert briefing.status == "fallback" and briefing.error is not None and briefing.error.startswith(outcome)
    assert "【态势概述】" in briefing.text and "本日" in briefing.text and "本周" not in briefing.text
    with engine.connect() as conn:
        assert conn.execute(select(s.llm_calls.c.outcome)).scalars().all() == [outcome]
    stored = latest_briefing(engine, "daily", "2026-11-21")
    assert stored is not None and stored.draft is None and stored.verification["error"] == briefing.error


def test_without_the_llm_section_nothing_is_read_or_contacted(
    sqlite_engine: Engine, server: ScriptedLlm, tmp_path: Path
) -> None:
    server.script(completion("不应被调用"))
    with pytest.raises(BriefingError, match="llm section"):
        write_briefing(sqlite_engine, Settings(), "daily")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": str(sqlite_engine.url)}}), encoding="utf-8")
    result = CliRunner().invoke(brief_cmd, ["daily", "--config", str(config)])
    assert result.exit_code == 2 and "llm section" in result.output
    assert server.requests == []
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.briefings)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(s.llm_calls)).scalar() == 0


def _config(tmp_path: Path, engine: Engine, server: ScriptedLlm) -> Path:
    config = tmp_path / "config.yaml"
    data = {
        "database": {"url": engine.url.render_as_string(hide_password=False)},
        "app": {"data_dir": str(tmp_path)},
        "llm": {
            "base_url": server.url,
            "model": "qwen-test",
            "timeout_seconds": 1,
            "api_key": "$env:TEST_LLM_KEY",
        },
    }
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


def test_cli_json_and_exit_status(
    seeded_sqlite: tuple[Engine, SeedFacts],
    server: ScriptedLlm,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, _ = seeded_sqlite
    monkeypatch.setenv("TEST_LLM_KEY", "office-key")
    config = _config(tmp_path, engine, server)
    facts = week_facts(engine, Settings())
    server.script(completion(correct_text(facts)))
    result = CliRunner().invoke(
        brief_cmd, ["weekly", "--date", "2026-11-20", "--json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "verified" and out["period"] == WEEK and out["removed"] == []
    assert out["facts"] == facts and out["text"].startswith("【态势概述】")
    assert server.requests[0]["auth"] == "Bearer office-key"
    server.script(Reply(status=429, body={}, headers={"retry-after": "0"}))
    failed = CliRunner().invoke(brief_cmd, ["daily", "--date", "2026-11-21", "--config", str(config)])
    assert failed.exit_code == 1 and "rate_limited" in failed.output and "【态势概述】" in failed.output
    bad = CliRunner().invoke(brief_cmd, ["daily", "--date", "21/11/2026", "--config", str(config)])
    assert bad.exit_code == 2 and "not a date" in bad.output


def test_the_weekly_report_appends_a_verified_briefing_only(
    seeded_sqlite: tuple[Engine, SeedFacts], server: ScriptedLlm, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    from reports.weekly import generate_weekly_report

    engine, _ = seeded_sqlite
    settings = llm_settings(server)

    def cover_text(out: Path) -> str:
        (path,) = generate_weekly_report(engine, settings, WEEK, ["xlsx"], out)
        sheet = load_workbook(path).worksheets[0]
        return "\n".join(str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None)

    assert "大模型" not in cover_text(tmp_path / "none")
    server.script(Reply(status=429, body={}, headers={"retry-after": "0"}))
    write_briefing(engine, settings, "weekly", WEEK, now=NOW)  # a template fallback is not appended
    assert "大模型" not in cover_text(tmp_path / "fallback")
    server.script(completion(correct_text(week_facts(engine, settings))))
    write_briefing(engine, settings, "weekly", WEEK, now=NOW)
    text = cover_text(tmp_path / "verified")
    assert "附：大模型撰写的周要报（已核验）" in text and "所含 4 个数字已逐一与系统计算的事实核对" in text
    assert "建议相关部门加强巡查" in text
    settings.reports.briefing = False
    assert "大模型" not in cover_text(tmp_path / "off")


def test_staff_names_and_notes_are_not_sent(seeded_sqlite: tuple[Engine, SeedFacts]) -> None:
    engine, seed = seeded_sqlite
    facts = week_facts(engine, Settings())
    alerts = [v for v in facts.values() if v.startswith("本期预警及处置")]
    assert alerts and not any("duty1" in v or "确认人" in v or "处置说明" in v for v in alerts)


def test_scheduled_briefings_only_with_the_llm_section(
    seeded_sqlite: tuple[Engine, SeedFacts], server: ScriptedLlm, tmp_path: Path
) -> None:
    from sensing import jobs
    from sensing.app import load_app
    from sensing.schedule import planned_jobs

    engine, _ = seeded_sqlite
    config = _config(tmp_path, engine, server)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert not {"brief.daily", "brief.weekly"} & set(planned_jobs(Settings()))
    data["llm"] |= {"daily_schedule": {"cron": "30 7 * * *"}, "api_key": None}
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    app = load_app(str(config))
    planned = planned_jobs(app.settings)
    assert planned["brief.daily"][0] == ["brief.daily"] and "brief.weekly" not in planned
    server.script(completion("【态势概述】\n建议持续关注。"))
    jobs.set_app(app)
    counts = jobs.run_job("brief.daily")
    assert counts is not None and counts["status"] == "verified" and len(server.requests) == 1
    stored = latest_briefing(engine, "daily")
    assert stored is not None and stored.requested_by == "scheduler"
