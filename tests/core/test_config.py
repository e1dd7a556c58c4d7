"""Configuration: one TOML file, every problem reported with its location, secrets only from outside."""

from datetime import timedelta

import pytest
from pydantic import BaseModel, SecretStr

from monitor.config import ConfigError, _resolve_connector_secrets, load_config, validate

KEY_ENV = {"REPMON_PSEUDONYM_KEY": "0123456789abcdef0123456789abcdef"}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    for var in ("REPMON_PSEUDONYM_KEY", "REPMON_PSEUDONYM_KEY_FILE", "REPMON_DATABASE_URL", "REPMON_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REPMON_DATA_DIR", str(tmp_path / "data"))


def write(tmp_path, text: str):
    path = tmp_path / "repmon.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[[brands]]
name = "Telia"
aliases = ["@telia_sverige"]
languages = ["sv", "da"]
[[brands.sources]]
connector = "file"
name = "import"
interval = "90s"
jitter = "5s"
settings = { path = "/tmp/mentions.jsonl", page_size = 100 }
[retention]
days = 30
"""


def test_valid_file_loads_with_connector_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", KEY_ENV["REPMON_PSEUDONYM_KEY"])
    config = load_config(write(tmp_path, GOOD))
    source = config.brands[0].sources[0]
    assert source.interval == timedelta(seconds=90) and source.jitter == timedelta(seconds=5)
    assert source.connector_settings.page_size == 100
    assert type(source.connector_settings).__name__ == "Settings"
    assert config.retention.days == 30
    assert config.brands[0].terms == ("Telia", "@telia_sverige")
    assert "lang:sv,da" in config.brands[0].query_expression()
    assert config.database_url().startswith("sqlite:///") and str(tmp_path / "data") in config.database_url()
    assert config.pseudonymiser().author_key("x") is not None


def test_every_problem_reported_with_its_location(tmp_path, monkeypatch):
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", KEY_ENV["REPMON_PSEUDONYM_KEY"])
    path = write(
        tmp_path,
        """
[database]
url = "postgresql+psycopg://repmon:hunter2@db/repmon"
[[brands]]
name = "Telia"
query = "telia AND ("
[[brands.sources]]
connector = "file"
interval = "soon"
settings = { bogus = 1 }
[[brands.sources]]
connector = "no-such-connector"
[[brands]]
name = "Telia"
[model]
batch_size = 0
[alerts]
timezone = "Mars/Olympus"
[surprise]
x = 1
""",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    found = {p.location: p.message for p in err.value.problems}
    # two brands named "Telia": positions stay; the sources are named (by connector when unnamed)
    assert 'brands[0].sources["file"].interval' in found
    assert "not a duration" in found['brands[0].sources["file"].interval']
    assert 'brands[0].sources["file"].settings.path' in found  # required by the file connector
    assert "unknown key 'bogus'" in found['brands[0].sources["file"].settings.bogus']
    assert "no-such-connector" in found['brands[0].sources["no-such-connector"].connector']
    assert "brands[0].query" in found
    assert "duplicate" in found["brands[1].name"]
    assert "model.batch_size" in found
    assert "alerts.timezone" in found
    assert "surprise" in found
    assert "REPMON_DATABASE_PASSWORD" in found["database.url"]
    assert "hunter2" not in str(err.value)


def test_toml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "[[brands]]\nname = \n"))
    assert "line 2" in str(err.value)


def test_missing_file_is_a_problem_unless_allowed(tmp_path):
    with pytest.raises(ConfigError, match="repmon init"):
        load_config(tmp_path / "absent.toml")
    assert load_config(tmp_path / "absent.toml", missing_ok=True).brands == []


def test_missing_pseudonym_key_is_a_problem(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD))
    assert [p.location for p in err.value.problems] == ["pseudonym_key"]


def test_pseudonym_key_from_secret_file(tmp_path, monkeypatch):
    key_file = tmp_path / "key"
    key_file.write_text("a-long-enough-secret-key-material\n")
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY_FILE", str(key_file))
    config = load_config(write(tmp_path, GOOD))
    assert config.pseudonym_key().get_secret_value() == "a-long-enough-secret-key-material"


def test_database_url_and_password_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", KEY_ENV["REPMON_PSEUDONYM_KEY"])
    monkeypatch.setenv("REPMON_DATABASE_URL", "postgresql+psycopg://repmon@db:5432/repmon")
    monkeypatch.setenv("REPMON_DATABASE_PASSWORD", "s3cret")
    config = load_config(write(tmp_path, GOOD))
    assert config.database_url() == "postgresql+psycopg://repmon:s3cret@db:5432/repmon"
    assert "s3cret" not in repr(config) and "s3cret" not in config.model_dump_json()


class TokenSettings(BaseModel):
    base_url: str
    access_token: SecretStr | None = None


def test_connector_secret_literal_in_file_is_refused():
    _, problems = _resolve_connector_secrets(
        {"base_url": "x", "access_token": "plain"},
        TokenSettings,
        "Telia",
        "masto",
        "brands[0].sources[0].settings",
        {},
    )
    assert problems[0].location == "brands[0].sources[0].settings.access_token"
    assert "REPMON_TELIA_MASTO_ACCESS_TOKEN" in problems[0].message
    assert "plain" not in problems[0].message


def test_connector_secret_from_env_file_or_named_variable(tmp_path):
    env = {"REPMON_TELIA_MASTO_ACCESS_TOKEN": "from-env"}
    settings, problems = _resolve_connector_secrets({"base_url": "x"}, TokenSettings, "Telia", "masto", "s", env)
    assert problems == [] and settings["access_token"].get_secret_value() == "from-env"

    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    raw = {"base_url": "x", "access_token_file": str(secret)}
    settings, problems = _resolve_connector_secrets(raw, TokenSettings, "Telia", "masto", "s", {})
    assert problems == [] and settings["access_token"].get_secret_value() == "from-file"

    raw = {"base_url": "x", "access_token_env": "MY_TOKEN"}
    settings, _ = _resolve_connector_secrets(raw, TokenSettings, "Telia", "masto", "s", {"MY_TOKEN": "named"})
    assert settings["access_token"].get_secret_value() == "named"
    _, problems = _resolve_connector_secrets(raw, TokenSettings, "Telia", "masto", "s", {})
    assert problems[0].location == "s.access_token_env"


def test_defaults_are_valid(monkeypatch):
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", KEY_ENV["REPMON_PSEUDONYM_KEY"])
    config = validate({})
    assert config.model.scorer and config.daemon.pipeline_interval == timedelta(seconds=30)
