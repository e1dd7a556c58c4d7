"""`repmon init`: a commented starter configuration and a fresh pseudonymisation key.

The starter file is meant to be read by a person: every section says what it does, and the secrets
it needs are named (as environment variables), never written into it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from monitor.config import secret_env_names

TEMPLATE = """\
# reputation-monitor configuration (`repmon config check` validates it; `repmon run` starts the daemon).
# Durations read as "90s", "5m", "2h", "1d" or a number of seconds.
# Secrets are NEVER written here: they come from the environment (REPMON_...) or secret files.

[database]
# Default: a SQLite file in the data directory ({data_dir}).
# For PostgreSQL give the URL without the password and set REPMON_DATABASE_PASSWORD:
# url = "postgresql+psycopg://repmon@db.internal:5432/repmon"

[[brands]]
name = {brand}
aliases = []              # other spellings and handles that also mean the brand, e.g. ["@{handle}"]
include = []              # if set, a mention must ALSO contain one of these (for common-word names)
exclude = []              # a mention containing any of these is ignored
languages = []            # e.g. ["sv", "da", "no", "en"]; empty = every language
# query = '"{plain}" NOT job'  # or a full query expression instead of the four lists above

# One [[brands.sources]] table per connector instance (`repmon sources list` shows the connectors).
[[brands.sources]]
connector = "mastodon"
name = "mastodon-social"
interval = "5m"           # poll interval ...
jitter = "30s"            # ... plus up to this much random delay, so sources do not poll in lockstep
settings = {{ base_url = "https://mastodon.social", search = false, hashtags = [{hashtag}] }}
# Full-text search needs a token: set REPMON_{env_brand}_MASTODON_SOCIAL_ACCESS_TOKEN and search = true.

# Import another tool's export (JSON Lines or CSV):
# [[brands.sources]]
# connector = "file"
# name = "import"
# interval = "1h"
# settings = {{ path = "/var/lib/repmon/import/mentions.jsonl" }}

[model]
scorer = "e5"             # the shipped transformer model (converted on first use); "lexicon": word lists
batch_size = 64
# precision = "auto"      # bf16 matrix products where the CPU has native bf16 (~1.9x); "fp32" = full

[detect]
# Defaults are tuned on real data; see docs/detection.md before changing them.

[alerts]
timezone = "Europe/Stockholm"
# With no routes every alert is printed on the console. Step by step: docs/setup-slack-zendesk.md;
# `repmon slack test` and `repmon zendesk test` check the connection once the secrets are set.
#
# Slack: create the app from deploy/slack-app-manifest.yaml, then
#   export REPMON_SLACK_BOT_TOKEN=xoxb-...   (OAuth & Permissions > Bot User OAuth Token)
#   export REPMON_SLACK_APP_TOKEN=xapp-...   (optional: Socket Mode, makes the buttons work)
#
# Zendesk: an agent's email plus an API token (Admin Center > Apps and integrations > Zendesk API)
#   export REPMON_ZENDESK_TOKEN=...
# [alerts.zendesk]
# base_url = "https://YOURCOMPANY.zendesk.com"
# email = "agent@example.com"
#
# [[alerts.routes]]
# name = "support"
# to = [
#   {{ sink = "slack", target = "C0123456789" }},    # channel ID (channel details); /invite the app to it
#   {{ sink = "zendesk", target = "360001234567" }}, # Zendesk group id (`repmon zendesk test` lists them)
# ]
# min_severity = "medium"

[retention]
days = 90                 # older mentions keep their numbers but lose text, handle and link

[daemon]
pipeline_interval = "30s" # scoring, detection and delivery run this often
# metrics_port = 9464     # /healthz and Prometheus /metrics on 127.0.0.1
"""


def render(brand: str, data_dir: Path) -> str:
    plain = re.sub(r"\s+", " ", brand.replace('"', "")).strip()
    handle = re.sub(r"[^A-Za-z0-9_]", "", plain) or "brand"
    env_brand = secret_env_names(plain, "x", "y")[0].removeprefix("REPMON_").removesuffix("_X_Y") or "BRAND"
    return TEMPLATE.format(
        brand=json.dumps(plain, ensure_ascii=False),
        plain=plain,
        handle=handle,
        hashtag=json.dumps(handle.lower()),
        env_brand=env_brand,
        data_dir=data_dir,
    )


def write_key_file(path: Path) -> bool:
    """Create a random 32-byte key readable only by its owner; False if one already exists."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return True
