"""Property tests: any configuration data, any log text, any brand name (issue 16).

The configuration file and everything logged come from outside; the properties are the promises made
to the operator: a problem list (never a crash) for any file, no token-shaped secret in any log line,
a Zendesk tag of allowed characters for any brand name.
"""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.sinks.zendesk import brand_tag
from monitor.config import ConfigError, validate
from monitor.kernel.logsetup import RedactSecrets, redact

KEYS = st.sampled_from(
    ["brands", "name", "languages", "sources", "connector", "settings", "alerts", "routes", "slack_channel",
     "helpdesk_group", "database", "url", "interval", "zendesk", "webhooks", "model", "daemon", "x", "naem"]
)  # fmt: skip
LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
VALUES = st.recursive(
    LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=25
)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    for var in ("REPMON_DATABASE_URL", "REPMON_SLACK_BOT_TOKEN", "REPMON_ZENDESK_TOKEN", "REPMON_SECRETS_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REPMON_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REPMON_PSEUDONYM_KEY", "0123456789abcdef0123456789abcdef")


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_config_data_gives_a_config_or_a_list_of_located_problems(data) -> None:
    try:
        validate(data)
    except ConfigError as exc:
        assert exc.problems and all(str(p).strip() for p in exc.problems)


TOKENS = st.one_of(
    st.from_regex(r"xox[bpae]-[0-9]{6,12}-[A-Za-z0-9]{8,24}", fullmatch=True),
    st.from_regex(r"xapp-1-[A-Z0-9]{8,12}-[0-9]{6}-[a-f0-9]{16,32}", fullmatch=True),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=60), TOKENS, st.text(max_size=60), st.sampled_from(["", "Bearer ", "token=", "'"]))
def test_no_slack_token_survives_the_log_filter(before, token, after, prefix) -> None:
    text = before + prefix + token + after
    record = logging.LogRecord("slack_sdk", logging.DEBUG, __file__, 1, "%s", (text,), None)
    RedactSecrets().filter(record)
    assert token not in record.getMessage()
    assert token not in redact(text)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.text(max_size=120))
def test_zendesk_brand_tags_are_plain_and_bounded(name) -> None:
    tag = brand_tag(name)
    assert re.fullmatch(r"[a-z0-9_]*", tag) and len(tag) <= 80
    assert tag.startswith("brand")
