"""`config check` catches what would otherwise fail silently at run time (issue 16)."""

from __future__ import annotations

import pytest

from alerts.sinks.zendesk import brand_tag, tag
from monitor.config import ConfigError, load_config, validate
from monitor.config_checks import language_problem

KEY = {"REPMON_PSEUDONYM_KEY": "0123456789abcdef0123456789abcdef"}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    for var in (
        "REPMON_PSEUDONYM_KEY",
        "REPMON_PSEUDONYM_KEY_FILE",
        "REPMON_DATABASE_URL",
        "REPMON_CONFIG",
        "REPMON_SLACK_BOT_TOKEN",
        "REPMON_ZENDESK_TOKEN",
        "REPMON_SECRETS_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REPMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", KEY["REPMON_PSEUDONYM_KEY"])


def problems(data, **kw) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        validate(data, **kw)
    out: dict[str, str] = {}
    for p in err.value.problems:
        out[p.location] = (out[p.location] + " | " if p.location in out else "") + p.message
    return out


ROUTES = {
    "alerts": {
        "routes": [{"name": "support", "slack_channel": "C0123", "helpdesk_group": "98738"}],
    }
}


def test_a_route_to_a_sink_without_credentials_names_the_variable_and_the_key():
    found = problems(ROUTES)
    slack = found['alerts.routes["support"].slack_channel']
    assert "REPMON_SLACK_BOT_TOKEN" in slack
    helpdesk = found['alerts.routes["support"].helpdesk_group']
    assert "`base_url`" in helpdesk and "`email`" in helpdesk and "REPMON_ZENDESK_TOKEN" in helpdesk


def test_the_same_routes_pass_once_sinks_are_configured(monkeypatch):
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN", "xoxb-1-2-3")
    monkeypatch.setenv("REPMON_ZENDESK_TOKEN", "zd-token")
    data = {"alerts": {**ROUTES["alerts"], "zendesk": {"base_url": "https://acme.zendesk.com", "email": "a@b.c"}}}
    assert validate(data).alerts.routes[0].targets("zendesk") == ["98738"]


def test_secret_from_a_file_counts_as_set(tmp_path, monkeypatch):
    (tmp_path / "bot").write_text("xoxb-from-file\n")
    monkeypatch.setenv("REPMON_SLACK_BOT_TOKEN_FILE", str(tmp_path / "bot"))
    data = {"alerts": {"routes": [{"name": "s", "slack_channel": "C1"}]}}
    assert validate(data).alerts.routes[0].targets("slack") == ["C1"]


def test_commands_that_deliver_nothing_do_not_need_sink_secrets():
    assert validate(ROUTES, require_secrets=False).alerts.routes[0].name == "support"


def test_a_helpdesk_group_that_is_not_an_id_is_refused_even_without_secrets():
    data = {"alerts": {"routes": [{"name": "s", "helpdesk_group": "Support team"}]}}
    found = problems(data, require_secrets=False)
    assert "not a Zendesk group id" in found['alerts.routes["s"].helpdesk_group']


@pytest.mark.parametrize(("code", "suggestion"), [("dk", "da"), ("se", "sv"), ("EN", None), ("nb", None)])
def test_language_codes_are_checked_with_a_suggestion(code, suggestion):
    message = language_problem(code)
    if suggestion is None:
        assert message is None
    else:
        assert f"did you mean {suggestion!r}" in message


def test_a_danish_brand_written_dk_is_a_problem_naming_the_brand():
    found = problems({"brands": [{"name": "Telia", "languages": ["sv", "dk", "no", "en"]}]})
    assert "did you mean 'da'" in found['brands["Telia"].languages[1]']


def test_route_languages_are_checked_too():
    data = {"alerts": {"routes": [{"name": "dk", "languages": ["dk"], "console": True}]}}
    assert "did you mean 'da'" in problems(data)['alerts.routes["dk"].languages[0]']


def test_a_database_url_without_an_installed_driver_is_a_problem(monkeypatch):
    found = problems({"database": {"url": "mysql://repmon@db/repmon"}})
    assert "not supported" in found["database.url"] and "postgresql+psycopg" in found["database.url"]
    monkeypatch.setenv("REPMON_DATABASE_URL", "postgresql+asyncpg://u@h/d")
    assert "REPMON_DATABASE_URL" in problems({})


def test_a_missing_file_with_a_bad_database_url_in_the_environment_is_a_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("REPMON_DATABASE_URL", "oracle://u@h/d")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "absent.toml", missing_ok=True, require_secrets=False)
    assert err.value.problems[0].location == "REPMON_DATABASE_URL"


def test_problems_name_brands_and_sources_and_suggest_known_keys():
    data = {
        "brands": [
            {
                "name": "Telia",
                "sources": [
                    {
                        "connector": "file",
                        "name": "import",
                        "intervall": "5m",
                        "settings": {"path": "/x", "pagesize": 1},
                    }
                ],
            }
        ],
        "alerts": {"timezon": "UTC"},
    }
    found = problems(data)
    assert "did you mean 'interval'" in found['brands["Telia"].sources["import"].intervall']
    assert "did you mean 'page_size'" in found['brands["Telia"].sources["import"].settings.pagesize']
    assert "did you mean 'timezone'" in found["alerts.timezon"]
    assert not any("[0]" in location for location in found)


def test_a_missing_connector_secret_names_its_variable(monkeypatch):
    source = {
        "connector": "reddit",
        "name": "reddit-main",
        "settings": {"subreddits": ["sweden"], "client_id": "abc", "user_agent": "repmon/1 (by /u/x)"},
    }
    data = {"brands": [{"name": "Søstrene Grene", "sources": [source]}]}
    found = problems(data)
    message = found['brands["Søstrene Grene"].sources["reddit-main"].settings.client_secret']
    assert "set REPMON_SOSTRENE_GRENE_REDDIT_MAIN_CLIENT_SECRET" in message
    # a command that only reads the database does not need the connector's secrets
    config = validate(data, require_secrets=False)
    assert config.brands[0].sources[0].name == "reddit-main"


def test_zendesk_tags_keep_nordic_brands_apart():
    assert brand_tag("Åhléns") != brand_tag("Öhléns")
    assert brand_tag("Søstrene Grene") == "brand_sostrene_grene"
    assert tag("Mærsk") == "maersk"


def test_two_brands_with_colliding_zendesk_tags_are_a_problem():
    found = problems({"brands": [{"name": "Åhléns"}, {"name": "AHLENS"}]})
    assert "same Zendesk tag" in found['brands["AHLENS"].name']


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\xff\xfe" + '[[brands]]\nname = "Åhléns"\n'.encode("utf-16-le"), "ok"),
        (b'[[brands]]\nname = "\xc5hl\xe9ns"\n', "not UTF-8"),
        (b"x = " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested too deeply"),
    ],
)
def test_config_files_in_other_encodings_or_too_deep_give_one_problem(tmp_path, raw, expected):
    path = tmp_path / "repmon.toml"
    path.write_bytes(raw)
    if expected == "ok":
        assert load_config(path).brands[0].name == "Åhléns"
        return
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert len(err.value.problems) == 1 and expected in err.value.problems[0].message
