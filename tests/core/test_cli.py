"""The core commands through the real click CLI: init, config check, db upgrade, mentions list/export."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from monitor.cli import _register_plugins, cli
from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.ingest import store_page
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.types import FetchedMention, Page, ScoreResult
from monitor.pipeline import write_scores

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def commands():
    _register_plugins()


@pytest.fixture
def env(tmp_path, monkeypatch):
    for var in ("REPMON_PSEUDONYM_KEY", "REPMON_PSEUDONYM_KEY_FILE", "REPMON_DATABASE_URL", "REPMON_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REPMON_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def run(*args, **kw):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def test_init_writes_a_valid_commented_config_and_a_private_key(env):
    path = env / "repmon.toml"
    result = run("--config", str(path), "init", "--brand", "Posten Norge")
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert 'name = "Posten Norge"' in text and text.count("#") > 20
    key = env / "data" / "pseudonym.key"
    assert key.exists() and (key.stat().st_mode & 0o777) == 0o600
    check = run("--config", str(path), "config", "check")
    assert check.exit_code == 0, check.output
    assert "OK (1 brands, 1 sources)" in check.output
    again = run("--config", str(path), "init", "--brand", "X")
    assert again.exit_code != 0 and "exists" in again.output


def test_config_check_names_every_problem_and_exits_2(env):
    path = env / "broken.toml"
    path.write_text(
        """
[[brands]]
name = "Telia"
[[brands.sources]]
connector = "mastodon"
settings = { base_url = "not a url", access_token = "xyz-literal-secret" }
[[brands.sources]]
connector = "file"
interval = "often"
[model]
scorer = "nope"
""",
        encoding="utf-8",
    )
    result = run("--config", str(path), "config", "check")
    assert result.exit_code == 2
    out = result.output
    for location in (
        'brands["Telia"].sources["mastodon"].settings.base_url',
        'brands["Telia"].sources["mastodon"].settings.access_token',
        'brands["Telia"].sources["file"].interval',
        'brands["Telia"].sources["file"].settings.path',
        "model.scorer",
        "pseudonym_key",
    ):
        assert f"error: {location}:" in out, (location, out)
    assert "xyz-literal-secret" not in out


def test_db_upgrade_creates_the_schema(env):
    url = f"sqlite:///{env / 'x.db'}"
    result = run("db", "upgrade", env={"REPMON_DATABASE_URL": url})
    assert result.exit_code == 0 and "database at revision" in result.output


def seed(database):
    pseudo = Pseudonymiser("cli-test-key-0123456789")
    with database.transaction() as s:
        a = ensure_source(s, "Telia", "masto", "mastodon")
        b = ensure_source(s, "SAS", "import", "file")
        mentions = [
            FetchedMention(f"t{i}", f"Telia text {i}", T0 + timedelta(hours=i), author="anna") for i in range(4)
        ]
        sa = store_page(s, a.source_id, a.brand_id, Page(mentions), pseudo)
        sb = store_page(s, b.source_id, b.brand_id, Page([FetchedMention("s1", "SAS flyg", T0)]), pseudo)
        labels = ["negative", "positive", "negative", "neutral"]
        results = [
            ScoreResult(mid, "lexicon-test", label, {label: 1.0}, "sv", label == "negative", 0.9)
            for mid, label in zip(sa.new_mention_ids, labels, strict=True)
        ]
        write_scores(s, results, T0)
        return sb


def test_mentions_list_and_export_filters(database, db_url, env):
    seed(database)
    environ = {"REPMON_DATABASE_URL": db_url}
    table = run("mentions", "list", env=environ)
    assert table.exit_code == 0 and table.output.count("\n") == 6  # header + 5 rows
    rows = [
        json.loads(x)
        for x in run(
            "mentions", "list", "--format", "jsonl", "--brand", "Telia", "--sentiment", "negative", env=environ
        ).output.splitlines()
    ]
    assert [r["external_id"] for r in rows] == ["t2", "t0"]  # newest first
    assert all(r["author_key"] and r["author_key"] != "anna" and "author" not in r for r in rows)
    since = run(
        "mentions", "list", "--format", "jsonl", "--since", (T0 + timedelta(hours=2)).isoformat(), env=environ
    ).output.splitlines()
    assert {json.loads(x)["external_id"] for x in since} == {"t2", "t3"}
    by_source = run("mentions", "list", "--format", "jsonl", "--source", "import", env=environ).output.splitlines()
    assert [json.loads(x)["brand"] for x in by_source] == ["SAS"]
    out = env / "export.jsonl"
    exported = run("mentions", "export", "--brand", "Telia", "-o", str(out), env=environ)
    assert exported.exit_code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["external_id"] for r in lines] == ["t0", "t1", "t2", "t3"]  # oldest first, unlimited
    assert lines[0]["sentiment"] == "negative" and lines[3]["sentiment"] == "neutral"
    bad = CliRunner().invoke(cli, ["mentions", "list", "--since", "yesterday-ish"], env=environ)
    assert bad.exit_code == 2 and "duration" in bad.output


def test_config_show_masks_secrets_taken_from_the_environment(env):
    path = env / "repmon.toml"
    run("--config", str(path), "init", "--brand", "Telia")
    token = "tok-0123456789-secret"
    result = run("--config", str(path), "config", "show", env={"REPMON_TELIA_MASTODON_SOCIAL_ACCESS_TOKEN": token})
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["brands"][0]["sources"][0]["settings"]["access_token"] == "**********"
    assert token not in result.output
