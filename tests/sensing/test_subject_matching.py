"""Subjects are matched in the tagging transaction: the same documents a backfill finds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, select

from analytics.subjects import compile_subject, spec_from
from nlp.jobs import tag_backlog
from sensing.subject_matching import SubjectMatching
from storage import schema as s
from storage.subjects import backfill_subject, create_subject, get_subject, set_active, update_subject
from tests.nlp.test_jobs import seed, tagger


def pairs(engine: Engine) -> set[tuple[int, int]]:
    sd = s.subject_documents
    with engine.connect() as conn:
        return {(a, b) for a, b in conn.execute(select(sd.c.subject_id, sd.c.document_id))}


def test_worker_matches_new_documents_like_a_backfill(engine: Engine) -> None:
    seed(engine, 30)
    pollution = create_subject(engine, "污染", "污染 NOT 河道", "ana")
    roads = create_subject(engine, "路面", "路面 OR 污染", "ana", sources=["s"], exclude=["29"])
    idle = create_subject(engine, "服务", "服务", "ana")
    set_active(engine, "服务", "ana", False)
    hook = SubjectMatching(engine)
    assert tag_backlog(engine, tagger(), batch_size=7, on_tagged=hook) == 30
    with engine.connect() as conn:
        texts = dict(conn.execute(select(s.documents.c.id, s.documents.c.content)).all())
    want_roads = {(roads.id, i) for i, t in texts.items() if ("路面" in t or "污染" in t) and "29" not in t}
    assert want_roads and pairs(engine) == want_roads  # every 污染 text says 河道; archived: nothing
    assert hook.matched == len(want_roads)

    # An edit seen by the next batch; a re-tag drops what no longer matches.
    update_subject(engine, "污染", "ana", expression="污染")
    update_subject(engine, "路面", "ana", expression="路面")
    seed(engine, 6, start=100)
    assert tag_backlog(engine, tagger("fake-2"), batch_size=50, on_tagged=hook) == 36
    with engine.connect() as conn:
        texts = dict(conn.execute(select(s.documents.c.id, s.documents.c.content)).all())
    incremental = pairs(engine)
    want = {(pollution.id, i) for i, t in texts.items() if "污染" in t}
    want |= {(roads.id, i) for i, t in texts.items() if "路面" in t and "29" not in t}
    assert incremental == want and idle.id not in {a for a, _ in incremental}

    with engine.begin() as conn:
        conn.execute(s.subject_documents.delete())
    for name in ("污染", "路面"):
        sub = next(x for x in (pollution, roads) if x.name == name)
        current = get_subject(engine, sub.id)
        assert current is not None
        m = compile_subject(spec_from(current))
        backfill_subject(engine, current, m.matches, m.prefilter())
    assert pairs(engine) == incremental


def test_sensing_process_records_subject_matches(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sensing.commands import tagging

    seed(engine, 12)
    sub = create_subject(engine, "路面", "路面", "ana")
    monkeypatch.setattr(tagging, "build_tagger", lambda settings: tagger())
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"database": {"url": db_url}, "app": {"data_dir": str(tmp_path / "var")}}))
    result = CliRunner().invoke(tagging.process_cmd, ["--config", str(cfg)])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        texts = dict(conn.execute(select(s.documents.c.id, s.documents.c.content)).all())
    assert pairs(engine) == {(sub.id, i) for i, t in texts.items() if "路面" in t} and len(pairs(engine)) == 4
