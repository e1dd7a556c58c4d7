"""Configuration of routing and sinks (the `[alerts]` section).

Every field has a default so an empty `[alerts]` section works: with no routes, every alert goes to
the console sink. Secrets (Slack bot/app tokens, Zendesk token, webhook secrets) are never written in
the file: the config names the environment variable that holds them, read as `SecretStr` on use.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from monitor.kernel.duration import Duration
from monitor.kernel.secrets import secret_from_env
from monitor.kernel.types import SEVERITIES, Severity


def severity_rank(severity: str) -> int:
    """Position of a severity in low < medium < high < critical (unknown values rank lowest)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1  # type: ignore[arg-type]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Target(_Section):
    """One destination: an installed sink (entry point `repmon.sinks`) and what it means by `target` (a Slack
    channel, a Zendesk group id, a webhook name; "" for the console)."""

    sink: str = Field(min_length=1)
    target: str = ""


# Keys of earlier versions, each naming one built-in sink. Still read (as a `to` entry); the configuration
# check prints a deprecation message with the replacement.
LEGACY_ROUTE_KEYS = {
    "slack_channel": "slack",
    "helpdesk_group": "zendesk",
    "webhook": "webhook",
    "console": "console",
}


def legacy_route_keys(route: object) -> list[str]:
    """The deprecated destination keys a raw route table uses."""
    return [key for key in LEGACY_ROUTE_KEYS if isinstance(route, dict) and key in route]


class Route(_Section):
    """One routing rule. Empty match lists mean "any"; every matching route contributes destinations."""

    name: str
    brands: list[str] = []
    languages: list[str] = []
    aspects: list[str] = []  # matches when the alert shows ANY of these aspects
    kinds: list[str] = []
    needs_help: bool | None = None  # None = either
    min_severity: Severity = "low"
    to: list[Target] = []  # where matching alerts go: [{sink = "slack", target = "#cs"}, ...]
    # Single complaints (kind "complaint") to this route's Slack channel / console: "post" each one (the
    # behaviour of earlier versions), or "digest": one summary per `single_complaints_every`. Every customer
    # reaches the helpdesk through a case either way; Slack is for leads.
    single_complaints: Literal["post", "digest"] = "post"

    @model_validator(mode="before")
    @classmethod
    def _legacy_destinations(cls, data: Any) -> Any:
        """`slack_channel = "C1"` (and the other keys of earlier versions) become `to` entries."""
        if not isinstance(data, dict) or not legacy_route_keys(data):
            return data
        data = dict(data)
        to = list(data.get("to") or [])
        for key, sink in LEGACY_ROUTE_KEYS.items():
            if key not in data:
                continue
            value = data.pop(key)
            if key == "console":
                if value is not False:
                    to.append({"sink": sink, "target": ""} if value is True else {"sink": sink, "target": value})
            elif value is not None:
                to.append({"sink": sink, "target": str(value) if isinstance(value, int | str) else value})
        data["to"] = to
        return data

    def targets(self, sink: str) -> list[str]:
        """This route's targets on one sink, in the order written."""
        return [t.target for t in self.to if t.sink == sink]


class QuietHours(_Section):
    """A nightly window in which alerts below `bypass_severity` wait for a morning digest."""

    start: time = time(22, 0)
    end: time = time(7, 0)
    bypass_severity: Severity = "critical"


class SlackConfig(_Section):
    base_url: str = "https://slack.com/api/"
    bot_token_env: str = "REPMON_SLACK_BOT_TOKEN"
    app_token_env: str = "REPMON_SLACK_APP_TOKEN"  # xapp- token for Socket Mode
    timeout_s: float = 10.0

    def bot_token(self) -> SecretStr | None:
        return secret_from_env(self.bot_token_env)

    def app_token(self) -> SecretStr | None:
        return secret_from_env(self.app_token_env)


class ZendeskConfig(_Section):
    base_url: str | None = None  # e.g. https://acme.zendesk.com
    email: str | None = None  # agent email for API-token auth ("email/token")
    token_env: str = "REPMON_ZENDESK_TOKEN"
    default_group: str | None = None  # for tickets created from Slack's "Create ticket" button
    timeout_s: float = 10.0

    def token(self) -> SecretStr | None:
        return secret_from_env(self.token_env)


class WebhookConfig(_Section):
    url: str
    secret_env: str  # HMAC-SHA256 key
    allow_private: bool = False  # SSRF guard: loopback/private targets only when explicitly allowed
    timeout_s: float = 10.0

    def secret(self) -> SecretStr | None:
        return secret_from_env(self.secret_env)


class OutboxConfig(_Section):
    max_attempts: int = Field(8, ge=1)
    backoff_base: Duration = timedelta(seconds=30)
    backoff_max: Duration = timedelta(hours=1)
    lock_for: Duration = timedelta(minutes=5)  # a crashed sender's claims become retryable after this


class StoriesConfig(_Section):
    """How mentions are grouped into stories (one story = one incident; see alerts/stories.py)."""

    # Cosine of sentence vectors. None (the default) = the threshold calibrated for the running scorer's
    # model version by `repmon eval grouping --calibrate`; a number here overrides the calibration.
    similarity: float | None = Field(None, gt=0, le=1)
    topic_similarity: float | None = Field(None, gt=0, le=1)  # lower cosine, only with shared rare words...
    topic_overlap: float | None = Field(None, gt=0, le=1)  # ...of at least this IDF-weighted share
    # Containment of word 3-shingles for near-duplicate text (reposts, quotes, truncations, copy-paste).
    shingle_similarity: float = Field(0.5, gt=0, le=1)
    window: Duration = timedelta(days=3)  # only stories updated this recently can absorb a mention


class CasesConfig(_Section):
    """Cases: one customer's matter with a brand, each with exactly one helpdesk ticket (alerts/cases.py)."""

    enabled: bool = True
    quiet_close: Duration = timedelta(hours=72)  # a case nobody wrote to for this long is closed
    status_poll: Duration = timedelta(minutes=10)  # how often open case tickets are read back from Zendesk


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "Europe/Stockholm"  # for quiet hours, digests and the daily cap's day
    routes: list[Route] = []
    default_console: bool = True  # no matching route -> console sink
    cooldowns: dict[str, Duration] = {"default": timedelta(minutes=30)}  # by alert kind
    quiet_hours: QuietHours | None = None
    daily_cap: int | None = Field(50, ge=1)  # new alerts per brand, per alert kind, per local day
    daily_caps: dict[str, Annotated[int, Field(ge=1)]] = {}  # by alert kind, overriding `daily_cap`
    overflow_summary_after: Duration = timedelta(minutes=30)
    single_complaints_every: Duration = timedelta(hours=1)  # digest of routes with single_complaints="digest"
    coverage_after: Duration = timedelta(hours=1)  # a source failing this long raises coverage_lost
    coverage_severity: Severity = "medium"
    aspect_threshold: float = Field(0.5, ge=0, le=1)
    needs_help_threshold: float = Field(0.5, ge=0, le=1)
    slack: SlackConfig = SlackConfig()
    zendesk: ZendeskConfig = ZendeskConfig()
    webhooks: dict[str, WebhookConfig] = {}
    outbox: OutboxConfig = OutboxConfig()
    stories: StoriesConfig = StoriesConfig()
    cases: CasesConfig = CasesConfig()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _routes_are_usable(self) -> AlertsConfig:
        names = [route.name for route in self.routes]
        if len(names) != len(set(names)):
            raise ValueError("route names must be unique")
        for route in self.routes:
            for webhook in route.targets("webhook"):
                if webhook not in self.webhooks:
                    raise ValueError(f"route {route.name!r} names unknown webhook {webhook!r}")
            if not route.to:
                example = '[{sink = "slack", target = "#cs"}]'
                raise ValueError(f"route {route.name!r} has no destination: give it `to = {example}`")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def cap(self, kind: str) -> int | None:
        """The daily budget of one alert kind: complaints never use up a spike's budget."""
        return self.daily_caps.get(kind, self.daily_cap)

    def cooldown(self, kind: str) -> timedelta:
        return self.cooldowns.get(kind, self.cooldowns.get("default", timedelta(0)))
