"""`repmon demo` runs the real daemon on simulated time and the storm raises a spike alert."""

import io
import json

from sqlalchemy import create_engine, select

from monitor.kernel.store.tables import Alert


def test_demo_raises_a_spike_alert_for_the_storm(tmp_path):
    from monitor.demo import run_demo

    out = io.StringIO()
    db = tmp_path / "demo.db"
    counts = run_demo(duration_minutes=45, speed=240, seed=7, keep=str(db), out=out)
    assert counts["mentions"] > 100 and counts["scored"] == counts["mentions"]
    assert counts["stories"] > 0 and counts["alerts"] >= 1
    text = out.getvalue()
    assert "=== repmon demo summary ===" in text and "storm injected" in text
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        kinds = set(conn.scalars(select(Alert.kind)))
    engine.dispose()
    assert kinds & {"negative_spike", "volume_spike", "virality"}, kinds
    summary = text.split("=== repmon demo summary ===", 1)[1]
    assert "needed help; cases opened" in summary and "incidents" in summary
    listed = [line.split()[3] for line in summary.splitlines() if line.startswith("  ") and line[4:5].isdigit()]
    assert listed and listed[0] != "complaint", listed  # the storm's alert first, before single complaints


def test_demo_cli_prints_json_as_its_last_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from monitor.cli import _register_plugins, cli

    _register_plugins()
    elsewhere = tmp_path / "production.db"
    monkeypatch.setenv("REPMON_DATABASE_URL", f"sqlite:///{elsewhere}")  # must not be used by the demo
    result = CliRunner().invoke(cli, ["demo", "--duration", "10", "--speed", "600"], catch_exceptions=False)
    assert result.exit_code == 0
    last = json.loads(result.output.strip().splitlines()[-1])
    assert set(last) == {"mentions", "scored", "alerts", "stories"}
    assert last["mentions"] > 0 and last["scored"] == last["mentions"]
    assert not elsewhere.exists()
