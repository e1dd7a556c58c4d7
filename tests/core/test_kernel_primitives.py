"""One Duration and one secret reader for every section of the configuration (issue 17: no near-copies)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from monitor.config import ConfigError, _resolve_connector_secrets, read_secrets, validate
from monitor.kernel.duration import parse_duration
from monitor.kernel.secrets import SecretFileError, read_secret_file, secret_from_env

UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _both_sections(text: str) -> tuple[timedelta, timedelta]:
    """The same duration text written in [daemon] and in [alerts], as each section parses it."""
    config = validate(
        {"daemon": {"max_backoff": text}, "alerts": {"cooldowns": {"default": text}}},
        environ={},
        require_secrets=False,
    )
    return config.daemon.max_backoff, config.alerts.cooldowns["default"]


def test_5min_is_five_minutes_in_daemon_and_alerts_alike() -> None:
    assert _both_sections("5min") == (timedelta(minutes=5), timedelta(minutes=5))


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from(sorted(UNITS)))
def test_every_unit_parses_identically_in_every_section(amount: int, unit: str) -> None:
    expected = timedelta(seconds=amount * UNITS[unit])
    assert _both_sections(f"{amount}{unit}") == (expected, expected)
    assert parse_duration(f"{amount} {unit}") == expected


@pytest.mark.parametrize("text", ["PT5M", 300, "300"])
def test_iso_8601_and_plain_seconds(text: object) -> None:
    assert parse_duration(text) == timedelta(minutes=5)  # type: ignore[arg-type]


def test_a_bad_duration_is_reported_with_examples_in_either_section() -> None:
    with pytest.raises(ConfigError) as caught:
        validate(
            {"daemon": {"max_backoff": "5 minutes"}, "alerts": {"cooldowns": {"default": "soon"}}},
            environ={},
            require_secrets=False,
        )
    messages = {p.location: p.message for p in caught.value.problems}
    assert "examples: 90s, 5m, 5min" in messages["daemon.max_backoff"]
    assert "examples: 90s, 5m, 5min" in messages["alerts.cooldowns.default"]
    with pytest.raises(ValueError, match="examples"):
        parse_duration("tomorrow")


def test_secret_from_variable_then_var_file_then_secrets_dir(tmp_path) -> None:
    (tmp_path / "token.txt").write_text("from-var-file\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "repmon_slack_bot_token").write_text("from-dir\n")
    (tmp_path / "dir" / "zendesk_token").write_text("short-name\n")
    env = {"REPMON_SECRETS_DIR": str(tmp_path / "dir")}
    assert secret_from_env("REPMON_SLACK_BOT_TOKEN", env).get_secret_value() == "from-dir"
    env["REPMON_SLACK_BOT_TOKEN_FILE"] = str(tmp_path / "token.txt")
    assert secret_from_env("REPMON_SLACK_BOT_TOKEN", env).get_secret_value() == "from-var-file"
    env["REPMON_SLACK_BOT_TOKEN"] = "from-variable"
    assert secret_from_env("REPMON_SLACK_BOT_TOKEN", env).get_secret_value() == "from-variable"
    assert secret_from_env("REPMON_ZENDESK_TOKEN", env).get_secret_value() == "short-name"
    assert secret_from_env("REPMON_NOTHING", env) is None


def test_an_unreadable_secret_file_names_the_path_not_the_content(tmp_path) -> None:
    with pytest.raises(SecretFileError, match=r"cannot read .*missing"):
        read_secret_file(tmp_path / "missing")
    with pytest.raises(SecretFileError, match="missing"):  # named by <VAR>_FILE: an error, not "not set"
        secret_from_env("REPMON_X", {"REPMON_X_FILE": str(tmp_path / "missing")})
    assert secret_from_env("REPMON_X", {"REPMON_SECRETS_DIR": str(tmp_path)}) is None  # the dir is optional
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SecretFileError, match="binary"):
        read_secret_file(tmp_path / "binary")


def test_root_secrets_come_through_the_same_reader(tmp_path) -> None:
    """The pseudonymisation key and database password accept `_FILE` and the secrets directory too."""
    (tmp_path / "repmon_pseudonym_key").write_text("k" * 32)
    (tmp_path / "password").write_text("hunter2-but-long\n")
    secrets = read_secrets(
        {"REPMON_SECRETS_DIR": str(tmp_path), "REPMON_DATABASE_PASSWORD_FILE": str(tmp_path / "password")}
    )
    assert secrets.pseudonym_key == SecretStr("k" * 32)
    assert secrets.database_password == SecretStr("hunter2-but-long")
    assert read_secrets({"repmon_pseudonym_key": "lower-case-name"}).pseudonym_key == SecretStr("lower-case-name")


def test_connector_secrets_read_the_secrets_dir_like_every_other_secret(tmp_path) -> None:
    class Settings(BaseModel):
        token: SecretStr

    (tmp_path / "repmon_acme_reddit_token").write_text("from-dir")
    settings, problems = _resolve_connector_secrets(
        {}, Settings, "acme", "reddit", "brands[0].sources[0].settings", {"REPMON_SECRETS_DIR": str(tmp_path)}
    )
    assert problems == [] and settings["token"] == SecretStr("from-dir")


def test_no_module_outside_the_kernel_reads_secret_files_or_parses_durations() -> None:
    """The near-copies stay gone: the patterns that gave them away appear only in the kernel."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    suspects = ('_FILE")', 'SECRETS_DIR")', "BaseSettings", "_UNITS = {", "_DURATION = re.compile")
    found = []
    for package in ("monitor", "connectors", "models", "alerts"):
        for folder, _dirs, files in os.walk(os.path.join(root, package)):
            if os.sep + "kernel" in os.path.relpath(folder, root):
                continue
            for name in files:
                if name.endswith(".py"):
                    text = Path(folder, name).read_text(encoding="utf-8")
                    found += [f"{folder}/{name}: {s}" for s in suspects if s in text]
    assert found == []


def test_an_unreadable_token_file_is_a_config_problem_not_a_traceback(tmp_path) -> None:
    (tmp_path / "token").mkdir()  # a directory where the token file should be: exists, cannot be read
    data = {"alerts": {"routes": [{"name": "cs", "to": [{"sink": "slack", "target": "C1"}]}]}}
    with pytest.raises(ConfigError) as caught:
        validate(data, environ={"REPMON_SLACK_BOT_TOKEN_FILE": str(tmp_path / "token")}, require_secrets=True)
    slack = [p for p in caught.value.problems if p.location.endswith("to[0]")]
    assert slack and "cannot read" in slack[0].message and "REPMON_SLACK_BOT_TOKEN" in slack[0].message
