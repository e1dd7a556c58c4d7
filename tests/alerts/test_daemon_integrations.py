"""The daemon degrades instead of dying when Slack Socket Mode cannot start (issue 16).

Real daemon, real slack-sdk SocketModeClient, the local Slack server (or a closed port for "Slack
unreachable"): the monitor keeps running, `/healthz` says `degraded` with the reason, the metric reads 0,
`repmon status` shows it, and the retry connects once the token is fixed.
"""

from __future__ import annotations

import io
import json
import socket
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from alerts.sinks.console import ConsoleSink
from monitor.config import Secrets, validate
from monitor.daemon import Daemon

from .local_http import wait_for
from .slack_server import APP_TOKEN, BOT_TOKEN, SlackServer

KEY = "daemon-test-key-0123456789abcdef"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(daemon: Daemon) -> dict:
    host, port = daemon.server.address
    with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=5) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize("fault", ["invalid_auth", "unreachable"])
def test_socket_mode_failure_is_reported_retried_and_recovers(
    database, db_url, shared_specs: Path, monkeypatch, tmp_path, fault
) -> None:
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("REPMON_SLACK_APP_TOKEN", "xapp-revoked" if fault == "invalid_auth" else APP_TOKEN)
    with SlackServer(shared_specs) as slack:
        base = slack.base if fault == "invalid_auth" else f"http://127.0.0.1:{closed_port()}"
        config = validate(
            {
                "database": {"url": db_url},
                "model": {"scorer": "lexicon"},
                "daemon": {"metrics_port": 0, "pipeline_interval": "1h"},
                "alerts": {"slack": {"base_url": base + "/api/", "timeout_s": 2}},
            },
            require_secrets=False,
        )
        config._secrets = Secrets.model_construct(pseudonym_key=SecretStr(KEY))
        daemon = Daemon(config, db=database, sinks={"console": ConsoleSink(io.StringIO())})
        try:
            daemon.start()  # must not raise
            assert daemon.healthy()
            state = daemon.integrations["slack_socket_mode"]
            assert state.status == "failing" and state.retry_in.total_seconds() >= 30
            assert ("invalid_auth" in state.reason) if fault == "invalid_auth" else state.reason
            body = healthz(daemon)
            assert body["status"] == "degraded"
            assert body["integrations"]["slack_socket_mode"]["status"] == "failing"
            assert 'repmon_integration_up{integration="slack_socket_mode"} 0.0' in daemon.metrics.render().decode()
            assert daemon.scheduler.get_job("slack_socket_mode") is not None  # the retry is scheduled
            assert "xapp-revoked" not in json.dumps(body)

            status = status_of(tmp_path, daemon, db_url)
            assert status.exit_code == 1 and "slack_socket_mode: failing" in status.output

            # the operator fixes the token / Slack comes back: the scheduled retry connects
            monkeypatch.setenv("REPMON_SLACK_APP_TOKEN", APP_TOKEN)
            daemon.config.alerts.slack.base_url = slack.base + "/api/"
            daemon._start_interactivity()
            assert wait_for(lambda: bool(slack.sockets))
            assert daemon.integrations["slack_socket_mode"].status == "ok"
            assert healthz(daemon)["status"] == "ok"
        finally:
            daemon.shutdown()


def status_of(tmp_path: Path, daemon: Daemon, db_url: str):
    from monitor.cli import _register_plugins, cli

    _register_plugins()
    port = daemon.server.address[1]
    path = tmp_path / "repmon.toml"
    path.write_text(f"[daemon]\nmetrics_port = {port}\n", encoding="utf-8")
    return CliRunner().invoke(cli, ["--config", str(path), "status"], env={"REPMON_DATABASE_URL": db_url})


def test_a_database_fault_in_a_job_is_one_line_in_the_log_and_the_daemon_lives_on(database, db_url, caplog):
    import logging
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from monitor.kernel.store.tables import OutboxMessage

    config = validate(
        {"database": {"url": db_url}, "model": {"scorer": "lexicon"}, "daemon": {"metrics_port": 0}},
        require_secrets=False,
    )
    config._secrets = Secrets.model_construct(pseudonym_key=SecretStr(KEY))
    daemon = Daemon(config, db=database, sinks={"console": ConsoleSink(io.StringIO())})
    engine = create_engine(db_url)
    OutboxMessage.__table__.drop(engine)  # a real fault the pipeline hits: the table is gone
    caplog.set_level(logging.INFO, logger="monitor.daemon")
    try:
        daemon.start()
        assert wait_for(lambda: "pipeline" in daemon.job_faults)
        for _ in range(2):  # it keeps failing on schedule: still one line
            daemon.scheduler.modify_job("pipeline", next_run_time=datetime.now(UTC))
            assert wait_for(lambda: daemon.scheduler.get_job("pipeline").next_run_time > datetime.now(UTC))
        assert "repmon schema" in daemon.job_faults["pipeline"]
        body = healthz(daemon)
        assert body["status"] == "degraded" and "pipeline" in body["jobs_failing"]
        OutboxMessage.__table__.create(engine)  # fixed
        for job in ("pipeline", "retention"):
            daemon.scheduler.modify_job(job, next_run_time=datetime.now(UTC))
        assert wait_for(lambda: not daemon.job_faults), daemon.job_faults
        assert healthz(daemon)["status"] == "ok"
    finally:
        daemon.shutdown()
        engine.dispose()
    failed = [r for r in caplog.records if r.getMessage().startswith("pipeline failed")]
    assert len(failed) == 1 and failed[0].exc_info is None and "repmon db upgrade" in failed[0].getMessage()
    assert any(r.getMessage() == "pipeline works again" for r in caplog.records)
    assert daemon.healthy() is False  # stopped cleanly, by us
