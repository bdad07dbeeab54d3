"""Outbox delivery: back-off, expiry, leases, and crashes between commit and send (a killed process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from alerts import outbox
from alerts.engine import deliver_outbox, evaluate_rules
from sensing.app import load_app
from storage import schema as s
from storage.db import make_engine
from storage.types import utcnow
from tests.alerts.conftest import NOW, write_config
from tests.alerts.test_lifecycle import delivered, events, silence_app
from tests.conftest import HttpReceiver

REPO = Path(__file__).resolve().parents[2]
SEC = timedelta(seconds=1)


def outbox_rows(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(select(s.outbox.c.status, s.outbox.c.attempts).order_by(s.outbox.c.id))
        ]  # type: ignore[misc]


@pytest.fixture
def one_alert(engine: Engine, receiver: HttpReceiver) -> Engine:
    """Source ``a`` silent for two hours, evaluated at NOW: one alert, one queued notification."""
    delivered(engine, "a", NOW - timedelta(hours=2))
    delivered(engine, "b", NOW)
    app = silence_app(engine, receiver)
    assert evaluate_rules(app.engine, app.settings, now=NOW)["queued"] == 1
    return engine


def test_backoff_doubles_and_is_capped() -> None:
    assert [outbox.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert outbox.backoff(30) == outbox.BACKOFF_MAX


def test_failed_delivery_retries_with_backoff_until_sent(one_alert: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(one_alert, receiver)
    receiver.replies += [(500, {}), (502, {})]
    assert deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW)["failed"] == 1
    assert (
        deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW + 29 * SEC)["claimed"] == 0
    )  # backing off 30 s
    assert deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW + 30 * SEC)["failed"] == 1
    assert (
        deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW + 89 * SEC)["claimed"] == 0
    )  # then 60 s
    assert deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW + 90 * SEC)["sent"] == 1
    assert deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW + 900 * SEC)["claimed"] == 0
    assert outbox_rows(one_alert) == [("sent", 3)]
    assert len(set(receiver.idempotency_keys())) == 1 and len(receiver.requests) == 3


def test_undeliverable_notification_expires(one_alert: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(one_alert, receiver)
    receiver.default = (500, {})
    deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW)
    counts = deliver_outbox(
        app.engine, app.settings.alerts.notifiers, now=NOW + timedelta(hours=24, seconds=1)
    )  # delivery_expiry_hours = 24
    assert (counts["expired"], counts["claimed"]) == (1, 0)
    assert outbox_rows(one_alert) == [("expired", 1)]
    with one_alert.connect() as conn:
        alert_id = conn.execute(select(s.alerts.c.id)).scalar_one()
    assert events(one_alert, alert_id)[-1] == ("delivery_expired", "notifier:hook")


def test_row_for_a_removed_notifier_expires(one_alert: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(one_alert, receiver, notify=[])
    app.settings.alerts.notifiers = []
    assert (
        deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW)["expired"] == 1
        and receiver.requests == []
    )


def test_claims_are_leased(one_alert: Engine) -> None:
    first = outbox.claim_due(one_alert, NOW, lease=timedelta(minutes=2))
    assert len(first) == 1 and outbox.claim_due(one_alert, NOW + 119 * SEC) == []
    again = outbox.claim_due(one_alert, NOW + 120 * SEC)  # the lease ran out: the deliverer is presumed dead
    assert [r.id for r in again] == [first[0].id] and again[0].attempts == 2


def test_crash_after_send_before_recording_resends_same_key(
    one_alert: Engine, receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = silence_app(one_alert, receiver)

    def crash(*args: object) -> None:
        raise KeyboardInterrupt("killed after the receiver accepted")

    monkeypatch.setattr(outbox, "mark_sent", crash)
    with pytest.raises(KeyboardInterrupt):
        deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW)
    monkeypatch.undo()
    assert (
        deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW + outbox.DEFAULT_LEASE)["sent"] == 1
    )
    keys = receiver.idempotency_keys()
    assert len(keys) == 2 and len(set(keys)) == 1  # a receiver de-duplicating by key sees it once


CHILD = """
import sys, time
from alerts import outbox
from alerts.engine import evaluate_rules
from sensing.app import load_app
from storage.types import utcnow

app = load_app(sys.argv[1])
counts = evaluate_rules(app.engine, app.settings)           # commits the alert and its outbox row
if sys.argv[2] == "claimed":
    outbox.claim_due(app.engine, utcnow())  # commits status 'sending' with a lease
print("committed", counts["queued"], flush=True)
time.sleep(120)                        # SIGKILLed here, before anything is sent
"""


def run_and_kill(config: Path, stage: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(config), stage],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.split() == ["committed", "1"], line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("stage", ["committed", "claimed"])
def test_killed_between_commit_and_send_delivers_exactly_once_on_restart(
    tmp_path: Path, db_url: str, receiver: HttpReceiver, stage: str
) -> None:
    engine = make_engine(db_url)
    try:
        delivered(engine, "a", utcnow() - timedelta(hours=3))
        alerts = {
            "rules": [
                {"name": "src_silent", "kind": "source_silence", "silence_minutes": 60, "notify": ["hook"]}
            ],
            "notifiers": [{"name": "hook", "kind": "webhook", "url": receiver.url + "/hook"}],
        }
        config = write_config(tmp_path, db_url, alerts, sources=[{"name": "a", "kind": "demo"}])
        run_and_kill(config, stage)
        assert receiver.requests == []
        assert outbox_rows(engine) == ([("pending", 0)] if stage == "committed" else [("sending", 1)])
        app = load_app(str(config))  # the restarted deliverer
        app._engine = engine
        if stage == "claimed":
            assert (
                deliver_outbox(app.engine, app.settings.alerts.notifiers)["claimed"] == 0
            )  # the dead process's lease still holds
            assert (
                deliver_outbox(
                    app.engine, app.settings.alerts.notifiers, now=utcnow() + outbox.DEFAULT_LEASE + SEC
                )["sent"]
                == 1
            )
        else:
            assert deliver_outbox(app.engine, app.settings.alerts.notifiers)["sent"] == 1
        assert (
            deliver_outbox(app.engine, app.settings.alerts.notifiers, now=utcnow() + timedelta(hours=1))[
                "claimed"
            ]
            == 0
        )
        assert len(receiver.requests) == 1 and receiver.requests[0].json()["alerts"][0]["key"] == "source=a"
    finally:
        engine.dispose()
