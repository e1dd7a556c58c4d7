"""Failure test: a real sender process (`repmon outbox drain`) is SIGKILLed while Slack is answering;
a restarted sender delivers every alert exactly once (the half-finished post is found, not repeated)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.config import AlertsConfig, Route, SlackConfig
from alerts.router import Router
from alerts.sender import OutboxSender
from alerts.sinks.slack import SlackSink
from monitor.kernel.store.tables import OutboxMessage
from monitor.kernel.types import AlertCandidate

from .conftest import World
from .slack_server import BOT_TOKEN, SlackServer

ALERTS = 6
KILL_AFTER_POST = 3


@pytest.mark.slow
def test_sigkill_mid_delivery_then_restart_delivers_each_alert_once(
    world: World, db_url: str, shared_specs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    now = datetime.now(UTC)
    config = AlertsConfig(routes=[Route(name="cs", slack_channel="C-CS")], cooldowns={})
    with world.factory() as s, s.begin():
        for i in range(ALERTS):
            m = world.mention(s, f"storm post {i}")
            cand = AlertCandidate(
                kind=f"k{i}",
                brand="Acme",
                key=f"storm-{i}",
                severity="high",
                detected_at=now,
                headline=f"Storm {i}",
                mention_ids=(m,),
            )
            Router(config).record(s, [cand], now)

    with SlackServer(shared_specs) as slack:
        reached, release = threading.Event(), threading.Event()

        def hang_after_third(message: dict) -> None:
            if len(slack.posts()) == KILL_AFTER_POST:
                reached.set()  # stored at "Slack", but the sender never sees the answer
                release.wait(60)

        slack.on_post = hang_after_third
        (tmp_path / "repmon.toml").write_text(
            f'[alerts]\ncooldowns = {{}}\n[alerts.slack]\nbase_url = "{slack.base}/api/"\n'
            '[[alerts.routes]]\nname = "cs"\nslack_channel = "C-CS"\n'
        )
        env = {
            **os.environ,
            "REPMON_DATABASE_URL": db_url,
            "REPMON_SLACK_BOT_TOKEN": BOT_TOKEN,
            "REPMON_CONFIG": str(tmp_path / "repmon.toml"),
        }
        proc = subprocess.Popen(
            [sys.executable, "-c", "from monitor.cli import main; main()", "outbox", "drain"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert reached.wait(120), proc.stderr.read().decode() if proc.poll() is not None else "no post"
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(30) == -signal.SIGKILL
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
        with world.factory() as s:
            status = Counter(s.scalars(select(OutboxMessage.status)))
        assert status == {"delivered": KILL_AFTER_POST - 1, "in_flight": ALERTS - KILL_AFTER_POST + 1}

        slack.on_post = None
        restarted = OutboxSender(world.factory, {"slack": SlackSink(SlackConfig(base_url=slack.base + "/api/"))})
        assert restarted.drain(now=datetime.now(UTC)).claimed == 0  # the dead sender's locks still hold
        after_lock = datetime.now(UTC) + restarted.config.lock_for + timedelta(seconds=1)
        stats = restarted.drain(now=after_lock)
        assert stats.delivered == ALERTS - KILL_AFTER_POST + 1

        keys = Counter(p["metadata"]["event_payload"]["key"] for p in slack.posts("C-CS"))
        assert keys == {f"storm-{i}:slack:C-CS:post": 1 for i in range(ALERTS)}
        with world.factory() as s:
            rows = s.scalars(select(OutboxMessage)).all()
            assert {r.status for r in rows} == {"delivered"}
            deduped = [r for r in rows if (r.result or {}).get("deduplicated")]
            assert len(deduped) == 1 and deduped[0].attempts == 2
        assert slack.violations == []
