"""The daemon end to end on real parts: file source -> match -> store -> lexicon scorer -> stories ->
detectors -> router -> outbox -> console sink; clean SIGTERM; /healthz and /metrics."""

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from alerts.sinks.console import ConsoleSink
from monitor.config import Secrets, validate
from monitor.daemon import Daemon, SchemaOutOfDate
from monitor.kernel.store.tables import Alert, Mention, OutboxMessage, Score

KEY = "daemon-test-key-0123456789abcdef"
COMPLAINTS = [  # texts the lexicon scorer flags as negative and needing help
    "@Telia_Sverige er kundtjänst var nedlåtande och arg när jag ställde en enkel fråga",
    "Har ventet i telefonkø hos Telia i 44 minutter nu. Hallo?? 😡",
    "@Telia_Sverige mobilnätet ligger nere igen i hela Göteborg, inget funkar 📵",
]
OTHER = ["Tack Telia för snabb hjälp idag!", "vädret i Oslo är fint", "Telia lanserar nytt abonnemang"]


def export(path: Path, now: datetime) -> int:
    rows = []
    for i, text in enumerate(COMPLAINTS + OTHER):
        created = now - timedelta(minutes=30 - i)
        rows.append(
            {
                "id": f"m{i}",
                "text": text,
                "url": f"https://x.example/{i}",
                "author": f"user{i}",
                "created_at": created.isoformat(),
                "likes": i,
                "language": "sv",
            }
        )
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return sum("telia" in r["text"].lower() for r in rows)


def config_for(db_url: str, path: Path):
    config = validate(
        {
            "database": {"url": db_url},
            "brands": [
                {
                    "name": "Telia",
                    "aliases": ["@telia_sverige"],
                    "sources": [{"connector": "file", "name": "import", "settings": {"path": str(path)}}],
                }
            ],
            "model": {"scorer": "lexicon"},
        },
        require_secrets=False,
    )
    config._secrets = Secrets.model_construct(pseudonym_key=SecretStr(KEY))
    return config


def count(db, model) -> int:
    with db() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_run_once_runs_every_stage_and_is_idempotent(database, db_url, tmp_path):
    now = datetime.now(UTC)
    expected = export(tmp_path / "export.jsonl", now)
    printed = io.StringIO()
    sinks = {"console": ConsoleSink(printed)}
    daemon = Daemon(config_for(db_url, tmp_path / "export.jsonl"), db=database, sinks=sinks)
    tick = daemon.run_once()
    assert count(database, Mention) == expected == 5
    assert tick.scored == expected and count(database, Score) == expected
    with database() as s:
        assert s.scalar(select(func.count()).where(Mention.story_id.is_not(None))) == expected
        kinds = set(s.scalars(select(Alert.kind)))
        statuses = set(s.scalars(select(OutboxMessage.status)))
    assert "complaint" in kinds  # the lexicon flags the pleas for help; the detector raises them
    assert statuses == {"delivered"}
    assert "Telia" in printed.getvalue()
    alerts_before = count(database, Alert)
    again = daemon.run_once()  # nothing new: nothing scored twice, no alert raised twice
    assert again.scored == 0 and count(database, Alert) == alerts_before and count(database, Score) == expected


def test_refuses_a_database_without_the_current_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(SchemaOutOfDate, match="repmon db upgrade"):
        Daemon(config_for(url, tmp_path / "x.jsonl"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_repmon_run_serves_health_and_metrics_and_stops_cleanly_on_sigterm(tmp_path):
    now = datetime.now(UTC)
    expected = export(tmp_path / "export.jsonl", now)
    port = free_port()
    db = tmp_path / "repmon.db"
    (tmp_path / "repmon.toml").write_text(
        f"""
[database]
url = "sqlite:///{db}"
[[brands]]
name = "Telia"
[[brands.sources]]
connector = "file"
name = "import"
interval = "1h"
settings = {{ path = "{tmp_path / "export.jsonl"}" }}
[daemon]
pipeline_interval = "1h"
metrics_port = {port}
""",
        encoding="utf-8",
    )
    env = {**os.environ, "REPMON_PSEUDONYM_KEY": KEY, "REPMON_CONFIG": str(tmp_path / "repmon.toml")}
    repmon = [sys.executable, "-c", "from monitor.cli import main; main()"]
    subprocess.run([*repmon, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen([*repmon, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        health: dict = {}
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1].decode()
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                time.sleep(0.2)
                continue
            health = json.loads(body)
            if status == 200 and health["pipeline_runs"] >= 1 and health["sources"]:
                break
            time.sleep(0.2)
        assert health.get("sources") == {"Telia/import": "ok"}
        status, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        text = metrics.decode()
        assert 'repmon_source_health{brand="Telia",health="ok",source="import"} 1.0' in text
        assert f'repmon_mentions_stored_total{{brand="Telia",source="import"}} {float(expected)}' in text
        assert get(f"http://127.0.0.1:{port}/nope")[0] == 404
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr.decode()
    assert "SIGTERM received" in stderr.decode()
    check = subprocess.run(
        [*repmon, "mentions", "list", "--format", "jsonl"], env=env, capture_output=True, timeout=60, check=True
    )
    assert len(check.stdout.decode().splitlines()) == expected
