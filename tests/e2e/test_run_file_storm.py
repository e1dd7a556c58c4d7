"""Done-when of the alerts issue, through the real daemon process: `repmon run` with the file source fed a
complaint storm posts ONE threaded Slack alert to the local Slack server, creates ONE Zendesk ticket on the
local Zendesk server (the case of the one customer: `RT @victim:` retellings are not customers), threads the
later retellings, and exits 0 on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.alerts.slack_server import APP_TOKEN, BOT_TOKEN, SlackServer
from tests.alerts.test_interactivity import click
from tests.alerts.zendesk_server import EMAIL, TOKEN, ZendeskServer

pytestmark = pytest.mark.slow

COMPLAINT = (
    "@Telia_Sverige kundtjänst svarar inte, jag har väntat i tre timmar och behöver hjälp med min faktura. "
    "Katastrof!"
)
RETELLERS = ["anna", "bo", "cia", "dan", "eva", "fia", "gus"]


def post(i: int, author: str, text: str, minutes_ago: float) -> dict:
    created = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {
        "id": f"p{i}",
        "text": text,
        "url": f"https://mastodon.example/@{author}/{i}",
        "author": author,
        "created_at": created.isoformat(),
        "language": "sv",
    }


def append(path: Path, rows: list[dict]) -> None:
    with path.open("a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def wait_until(condition: Callable[[], bool], what: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"repmon run exited early ({proc.returncode}) while waiting for {what}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def posts_blocks_alert_id(message: dict) -> str:
    """The alert id our Block Kit message carries in its actions block (`alert:<id>`)."""
    for block in message.get("blocks") or []:
        if str(block.get("block_id", "")).startswith("alert:"):
            return block["block_id"].split(":", 1)[1]
    raise AssertionError(f"no actions block in {message}")


def test_repmon_run_file_storm_one_threaded_slack_alert_and_one_ticket(tmp_path: Path, shared_specs: Path) -> None:
    export = tmp_path / "storm.jsonl"
    append(export, [post(0, "victim", COMPLAINT, 12)])
    append(export, [post(i, name, f"RT @victim: {COMPLAINT}", 11 - i) for i, name in enumerate(RETELLERS[:3], 1)])
    with SlackServer(shared_specs) as slack, ZendeskServer(shared_specs) as zendesk:
        config = tmp_path / "repmon.toml"
        config.write_text(
            f"""
[database]
url = "sqlite:///{tmp_path / "repmon.db"}"

[[brands]]
name = "Telia"
aliases = ["@Telia_Sverige"]

[[brands.sources]]
connector = "file"
name = "export"
interval = "1s"
jitter = "0s"
settings = {{ path = "{export}" }}

[model]
scorer = "lexicon"

[alerts]
default_console = false

[alerts.slack]
base_url = "{slack.base}/api/"

[alerts.zendesk]
base_url = "{zendesk.base}"
email = "{EMAIL}"

[[alerts.routes]]
name = "support"
kinds = ["complaint"]
slack_channel = "C-CS"
helpdesk_group = "98738"

[daemon]
pipeline_interval = "1s"
""",
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "REPMON_SLACK_BOT_TOKEN": BOT_TOKEN,
            "REPMON_SLACK_APP_TOKEN": APP_TOKEN,  # Socket Mode interactivity runs inside the daemon
            "REPMON_ZENDESK_TOKEN": TOKEN,
            "REPMON_PSEUDONYM_KEY": "test-key-" + "x" * 32,
        }
        repmon = [str(Path(sys.executable).parent / "repmon"), "--config", str(config)]
        upgrade = subprocess.run([*repmon, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
        assert upgrade.returncode == 0, upgrade.stderr
        log = (tmp_path / "run.log").open("w")
        proc = subprocess.Popen([*repmon, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: len(slack.posts("C-CS")) >= 1, "the Slack alert", proc)
            wait_until(lambda: len(zendesk.tickets) >= 1, "the Zendesk ticket", proc)
            # The storm goes on: more retellings of the same complaint arrive after the alert.
            append(
                export, [post(i, name, f"RT @victim: {COMPLAINT}", 1) for i, name in enumerate(RETELLERS[3:], 4)]
            )
            wait_until(
                lambda: any("more mention" in json.dumps(r) for r in slack.posts("C-CS", top_level=False)),
                "the follow-up in the thread",
                proc,
            )
            # A support lead presses Acknowledge: the daemon's Socket Mode client updates the message.
            wait_until(lambda: bool(slack.sockets), "the Socket Mode connection", proc)
            alert_id = int(posts_blocks_alert_id(slack.posts("C-CS")[0]))
            click(slack, alert_id, {"action_id": "acknowledge", "type": "button", "value": str(alert_id)})
            wait_until(
                lambda: "Acknowledged" in json.dumps(slack.posts("C-CS")), "the acknowledged message update", proc
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            log.close()
        output = (tmp_path / "run.log").read_text()
        assert code == 0, output

        posts = slack.posts("C-CS")
        replies = slack.posts("C-CS", top_level=False)
        assert len(posts) == 1, posts  # one alert for the whole story, never re-alerted
        assert replies and {r["thread_ts"] for r in replies} == {posts[0]["ts"]}
        assert len(zendesk.tickets) == 1
        assert zendesk.tickets[0]["external_id"].startswith("repmon-case-")  # the customer's case ticket
        assert slack.violations == [] and zendesk.violations == []
        with sqlite3.connect(tmp_path / "repmon.db") as conn:
            assert conn.execute("SELECT state FROM alerts WHERE id = ?", (alert_id,)).fetchone() == (
                "acknowledged",
            )
        assert TOKEN not in output and BOT_TOKEN not in output  # secrets are never logged
