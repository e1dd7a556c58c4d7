"""A new operator's afternoon, scripted (issue 16): init -> six sources -> Slack/Zendesk routes without
credentials -> check -> run. Every step that cannot work must exit non-zero with lines that each name the
key or variable to change, never a traceback; once fixed, the same commands work."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from monitor.cli import _register_plugins, cli

SOURCES = """
[[brands.sources]]
connector = "reddit"
name = "reddit"
settings = { subreddits = ["sweden"], client_id = "abc123", user_agent = "repmon/1.0 (by /u/sg_support)" }

[[brands.sources]]
connector = "bluesky"
name = "bluesky"
settings = { identifier = "sostrenegrene.bsky.social" }

[[brands.sources]]
connector = "youtube"
name = "youtube"
settings = { channel_ids = ["UCsostrenegrene00000000"] }

[[brands.sources]]
connector = "rss"
name = "news"
settings = { feeds = ["https://news.example/rss.xml"] }

[[brands.sources]]
connector = "file"
name = "import"
settings = { path = "IMPORT" }

[[alerts.routes]]
name = "support"
slack_channel = "C0123456789"
helpdesk_group = "360001234567"
"""
EXPECTED = {  # what the operator must change, each named in some error line
    "REPMON_SOSTRENE_GRENE_REDDIT_CLIENT_SECRET",
    "REPMON_SOSTRENE_GRENE_BLUESKY_APP_PASSWORD",
    "REPMON_SOSTRENE_GRENE_YOUTUBE_API_KEY",
    "REPMON_SLACK_BOT_TOKEN",
    "REPMON_ZENDESK_TOKEN",
    "`base_url`",
    "`email`",
    "'da'",
}
SECRETS = {
    "REPMON_SOSTRENE_GRENE_REDDIT_CLIENT_SECRET": "r-secret",
    "REPMON_SOSTRENE_GRENE_BLUESKY_APP_PASSWORD": "b-pass-word",
    "REPMON_SOSTRENE_GRENE_YOUTUBE_API_KEY": "y-key-123",
}


@pytest.fixture(scope="module", autouse=True)
def commands():
    _register_plugins()


@pytest.fixture
def home(tmp_path, monkeypatch):
    for var in list(__import__("os").environ):
        if var.startswith("REPMON_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("REPMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def repmon(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env)


def assert_every_line_names_what_to_change(result):
    assert result.exit_code == 2, result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(line.startswith("error: ") for line in lines), lines
    for line in lines:  # a key (`x` or a dotted location) or an environment variable in every line
        assert re.search(r"REPMON_[A-Z_]+|`[a-z_]+`|did you mean|^error: [^:]+\.[a-z_]+(\[\d+\])?:", line), line
    text = "\n".join(lines)
    missing = {e for e in EXPECTED if e not in text}
    assert not missing, (missing, text)


def test_new_operator_walkthrough(home):
    now = datetime.now(UTC)
    export = home / "import.jsonl"
    rows = [
        {
            "id": f"m{i}",
            "text": text,
            "author": f"user{i}",
            "created_at": (now - timedelta(minutes=9 - i)).isoformat(),
        }
        for i, text in enumerate(
            [
                "Søstrene Grene har den fineste julepynt i år",
                "Handlede hos Søstrene Grene i dag, god stemning",
                "Søstrene Grene kundeservice svarer ikke, jeg har ventet i tre uger på min refusion",
            ]
        )
    ]
    export.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    # 1. init
    result = repmon("init", "--brand", "Søstrene Grene")
    assert result.exit_code == 0, result.output
    config = home / "repmon.toml"
    text = config.read_text(encoding="utf-8")
    assert "[alerts.zendesk]" in text and "REPMON_SOSTRENE_GRENE_MASTODON_SOCIAL_ACCESS_TOKEN" in text

    # 2. six sources (the starter's Mastodon + five), Danish written "dk", routes without credentials
    text = text.replace("languages = []", 'languages = ["sv", "dk", "no", "en"]', 1)
    text = text.replace("[model]", SOURCES.replace("IMPORT", str(export)) + "\n[model]", 1)
    text = text.replace('scorer = "e5"', 'scorer = "lexicon"', 1)
    # [[alerts.routes]] must come after [alerts]: move the routes block to the end of the file
    routes = text[text.index("[[alerts.routes]]") : text.index("[model]")]
    text = text.replace(routes, "") + "\n" + routes
    config.write_text(text, encoding="utf-8")

    # 3. check: exit 2, every line names what to change
    assert_every_line_names_what_to_change(repmon("config", "check"))
    # 4. run refuses the same way (alerts would otherwise wait unseen in the outbox)
    assert_every_line_names_what_to_change(repmon("run", "--once"))

    # 5. the operator fixes everything named: da, secrets, Zendesk settings; trial run offline (file only)
    text = text.replace('"dk"', '"da"')
    text = text.replace("# [alerts.zendesk]", "[alerts.zendesk]").replace(
        '# base_url = "https://YOURCOMPANY', 'base_url = "https://YOURCOMPANY'
    )
    text = text.replace('# email = "agent@example.com"', 'email = "agent@example.com"')
    for name in ("mastodon-social", "reddit", "bluesky", "youtube", "news"):
        text = text.replace(f'name = "{name}"\n', f'name = "{name}"\nenabled = false\n', 1)
    config.write_text(text, encoding="utf-8")

    # read-only commands work now without any connector, Slack or Zendesk secret
    assert repmon("db", "upgrade").exit_code == 0
    listing = repmon("mentions", "list")
    assert listing.exit_code == 0, listing.output
    assert repmon("config", "show").exit_code == 0

    env = {**SECRETS, "REPMON_SLACK_BOT_TOKEN": "xoxb-1-2", "REPMON_ZENDESK_TOKEN": "zd-token"}
    check = repmon("config", "check", env=env)
    assert check.exit_code == 0, check.output
    assert "OK (1 brands, 6 sources)" in check.output
    assert "note: Slack buttons" in check.output and "REPMON_SLACK_APP_TOKEN" in check.output

    # without the Slack/Zendesk secrets the route is refused again, naming them
    missing = repmon("config", "check", env=SECRETS)
    assert missing.exit_code == 2 and "REPMON_SLACK_BOT_TOKEN" in missing.stderr

    run = repmon("run", "--once", env=env)
    assert run.exit_code == 0, run.output
    stored = repmon("mentions", "list", "--brand", "Søstrene Grene", "--format", "jsonl")
    assert stored.exit_code == 0 and len(stored.output.splitlines()) == 3
    status = repmon("status", env=env)
    assert "import: ok" in status.output, status.output
