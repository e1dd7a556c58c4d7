"""Small things a new operator trips over (issue 16): unknown reach shown as 0, the progress bar, the
starter file's Zendesk settings and Nordic secret variables."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from alerts.slack_blocks import counts_line
from monitor import starter
from monitor.config import secret_env_names
from monitor.detect.config import DetectConfig
from monitor.detect.stage import detect
from monitor.kernel.store.tables import Brand, Mention, Score, Source

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("followers", "shown"), [(None, None), (0, 0), (1200, 1200)])
def test_complaint_reach_is_unknown_rather_than_zero(engine: Engine, followers, shown) -> None:
    config = DetectConfig.model_validate(
        {"volume": {"enabled": False}, "negative_share": {"enabled": False}, "complaint": {"enabled": True}}
    )
    with Session(engine) as s:
        brand = Brand(name="Acme")
        s.add(brand)
        s.flush()
        source = Source(brand_id=brand.id, name="file", connector="file")
        s.add(source)
        s.flush()
        mention = Mention(
            source_id=source.id,
            brand_id=brand.id,
            external_id="m1",
            text="my refund is three weeks late",
            created_at=T0,
            scored_at=T0,
            author_followers=followers,
        )
        s.add(mention)
        s.flush()
        s.add(
            Score(
                mention_id=mention.id,
                model_version="t",
                label="negative",
                p_negative=0.9,
                p_neutral=0.05,
                p_positive=0.05,
                language="en",
                needs_help=True,
                needs_help_probability=0.9,
            )
        )
        s.commit()
        assert s.scalar(select(Score.id)) is not None
        (candidate,) = detect(s, config, T0 + timedelta(minutes=30))
    assert candidate.evidence["author_followers"] == shown
    line = counts_line({"evidence": candidate.evidence})
    assert ("followers" in line) == (shown is not None)


def test_no_loading_weights_progress_bar_unless_verbose() -> None:
    code = (
        "import sys; from monitor.kernel.logsetup import configure; configure(int(sys.argv[1])); "
        "from transformers.utils import logging; print(logging.is_progress_bar_enabled())"
    )
    env_free = {k: v for k, v in __import__("os").environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    quiet = subprocess.run([sys.executable, "-c", code, "0"], capture_output=True, text=True, env=env_free)
    verbose = subprocess.run([sys.executable, "-c", code, "1"], capture_output=True, text=True, env=env_free)
    assert quiet.stdout.strip() == "False", quiet.stderr
    assert verbose.stdout.strip() == "True", verbose.stderr


def test_starter_config_names_the_zendesk_and_slack_settings(tmp_path: Path) -> None:
    text = starter.render("Søstrene Grene", tmp_path)
    for needed in ("[alerts.zendesk]", "base_url", "email", "REPMON_ZENDESK_TOKEN", "REPMON_SLACK_BOT_TOKEN"):
        assert needed in text, needed
    assert "docs/setup-slack-zendesk.md" in text
    assert "REPMON_SOSTRENE_GRENE_MASTODON_SOCIAL_ACCESS_TOKEN" in text


def test_connector_secret_variables_fold_nordic_letters_and_keep_the_older_name() -> None:
    names = secret_env_names("Søstrene Grene", "reddit", "password")
    assert names[0] == "REPMON_SOSTRENE_GRENE_REDDIT_PASSWORD"
    assert "REPMON_S_STRENE_GRENE_REDDIT_PASSWORD" in names
