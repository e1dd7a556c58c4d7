"""Every command turns expected operational faults into one sentence and a non-zero exit (issue 16).

A table of real faults (nothing mocked: a closed port, a read-only PostgreSQL session, a path that cannot
be created, an uninstalled driver, a file in the wrong encoding, absurdly nested TOML) x the commands an
operator runs. Each cell must exit non-zero with exactly one `error:` line naming what to change, and no
traceback; `--debug` brings the traceback back.
"""

from __future__ import annotations

import socket
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from monitor.cli import _register_plugins, cli
from monitor.cli.faults import explain
from monitor.kernel.store import migrate

KEY = "0123456789abcdef0123456789abcdef"
COMMANDS = {
    "db upgrade": ["db", "upgrade"],
    "mentions list": ["mentions", "list"],
    "mentions export": ["mentions", "export"],
    "outbox list": ["outbox", "list"],
    "run --once": ["run", "--once"],
    "status": ["status"],
    "outbox drain": ["outbox", "drain"],
    "outbox retry": ["outbox", "retry", "--all"],
    "feedback export": ["feedback", "export"],
    "purge": ["purge"],
    "report": ["report", "--brand", "Telia", "-o", "report.html"],
}
WRITERS = ("db upgrade", "run --once")


@pytest.fixture(scope="module", autouse=True)
def commands():
    _register_plugins()


@pytest.fixture
def env(tmp_path, monkeypatch):
    for var in ("REPMON_PSEUDONYM_KEY_FILE", "REPMON_DATABASE_URL", "REPMON_CONFIG", "REPMON_SLACK_BOT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REPMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", KEY)
    (tmp_path / "import.jsonl").write_text("")
    config = tmp_path / "repmon.toml"
    config.write_text(
        f"""
[[brands]]
name = "Telia"
[[brands.sources]]
connector = "file"
name = "import"
settings = {{ path = "{tmp_path / "import.jsonl"}" }}
[model]
scorer = "lexicon"
""",
        encoding="utf-8",
    )
    return config


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invoke(config, args, **kw):
    return CliRunner().invoke(cli, ["--config", str(config), *args], **kw)


def assert_one_clear_line(result, *expected: str) -> None:
    assert result.exit_code not in (0, None), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for word in expected:
        assert word in errors[0], (word, errors[0])


@pytest.mark.parametrize("command", COMMANDS)
def test_database_down(env, command):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/repmon"
    result = invoke(env, COMMANDS[command], env={"REPMON_DATABASE_URL": url})
    assert_one_clear_line(result, "cannot connect to the database", "REPMON_DATABASE_URL")
    assert result.exit_code == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_database_driver_not_installed(env, command):
    result = invoke(env, COMMANDS[command], env={"REPMON_DATABASE_URL": "mysql://repmon@127.0.0.1/repmon"})
    assert_one_clear_line(result, "REPMON_DATABASE_URL", "postgresql+psycopg")
    assert result.exit_code == 2


@pytest.mark.parametrize("command", COMMANDS)
def test_sqlite_path_that_cannot_be_created(env, command):
    result = invoke(env, COMMANDS[command], env={"REPMON_DATABASE_URL": "sqlite:////proc/repmon-test/x.db"})
    assert_one_clear_line(result, "/proc/repmon-test")


@pytest.mark.parametrize("command", [*COMMANDS, "config check"])
@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b'[[brands]]\nname = "\xc5hl\xe9ns"\n', "save the file as UTF-8"), (b"x = " + b"[" * 3000, "nested")],
)
def test_config_file_not_utf8_or_too_deep(env, command, raw, expected):
    env.write_bytes(raw)
    args = COMMANDS.get(command, ["config", "check"])
    result = invoke(env, args, env={"REPMON_DATABASE_URL": f"sqlite:///{env.parent / 'x.db'}"})
    assert_one_clear_line(result, str(env), expected)
    assert result.exit_code == 2


@pytest.mark.postgres
@pytest.mark.parametrize("command", WRITERS)
def test_read_only_database(env, pg_url, command):
    engine = create_engine(pg_url)
    with engine.begin() as conn:  # a fresh schema, then a session that may only read (a replica)
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    if command != "db upgrade":  # an empty database makes the upgrade write; the daemon needs the schema
        migrate.upgrade(pg_url)
    read_only = pg_url + "?options=" + quote("-c default_transaction_read_only=on")
    result = invoke(env, COMMANDS[command], env={"REPMON_DATABASE_URL": read_only})
    assert_one_clear_line(result, "read-only")
    if command != "db upgrade":
        reads = invoke(env, ["mentions", "list"], env={"REPMON_DATABASE_URL": read_only})
        assert reads.exit_code == 0, reads.output  # browsing still works on a replica


def test_disk_full_is_named(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'full.db'}")

    @event.listens_for(engine, "connect")
    def small(dbapi_conn, _record):  # a real SQLITE_FULL from the real driver, on a tiny page budget
        dbapi_conn.execute("PRAGMA max_page_count = 3")

    with pytest.raises(OperationalError) as err, engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        for _ in range(200):
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "y" * 1000})
    assert "disk" in explain(err.value) and "full" in explain(err.value)


def test_debug_shows_the_traceback(env):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/repmon"
    result = invoke(env, ["--debug", "outbox", "list"], env={"REPMON_DATABASE_URL": url})
    assert result.exit_code != 0 and isinstance(result.exception, OperationalError)


def test_an_unknown_brand_is_an_error_not_an_empty_table(env, tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert invoke(env, ["db", "upgrade"], env={"REPMON_DATABASE_URL": url}).exit_code == 0
    assert invoke(env, ["run", "--once"], env={"REPMON_DATABASE_URL": url}).exit_code == 0
    result = invoke(env, ["mentions", "list", "--brand", "Telai"], env={"REPMON_DATABASE_URL": url})
    assert result.exit_code == 2 and "did you mean 'Telia'" in result.stderr


def test_run_once_exits_1_and_names_a_source_that_is_not_ok(env, tmp_path):
    """cron only sees the exit code: a source that cannot be polled must not pass as a clean run."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert invoke(env, ["db", "upgrade"], env={"REPMON_DATABASE_URL": url}).exit_code == 0
    (tmp_path / "import.jsonl").unlink()  # the export file the source reads is gone: a config error
    result = invoke(env, ["run", "--once"], env={"REPMON_DATABASE_URL": url})
    assert result.exit_code == 1 and "sources not ok" in result.stderr and "import" in result.stderr
    assert "Traceback" not in result.output + result.stderr
