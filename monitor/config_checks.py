"""Checks across sections of the configuration: what would otherwise fail silently at run time.

`monitor.config.validate` runs these after the structural validation, on the raw data where possible so
one run lists every problem: routes against the sinks and secrets they need (naming the variable),
language codes against what the scorer produces (with a suggestion), database URLs against installed
drivers, brands whose Zendesk tags would collide, and the brand / source / route names that replace list
positions in every message.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url

from alerts.config import LEGACY_ROUTE_KEYS, AlertsConfig, legacy_route_keys
from monitor.config import Config, Problem
from monitor.kernel import plugins
from monitor.kernel.secrets import SecretFileError, secret_from_env
from monitor.kernel.secrets import hint as secret_hint

SUPPORTED_LANGUAGES = ("sv", "da", "no", "en")
_LANGUAGE_HINTS = {"dk": "da", "se": "sv", "nb": "no", "nn": "no", "gb": "en", "uk": "en", "us": "en", "nor": "no"}


def language_problem(code: Any) -> str | None:
    """Why `code` cannot be used as a language filter (with a suggestion), or None when it can.

    A code the scorer never produces (e.g. "dk" for Danish) would silently drop every post in that language.
    """
    from monitor.kernel.langid import normalise_language

    if not isinstance(code, str):
        return f"language codes are strings like {', '.join(SUPPORTED_LANGUAGES)}"
    if normalise_language(code) in SUPPORTED_LANGUAGES and code.lower() not in ("dk", "se", "gb", "uk", "us"):
        return None
    hint = _LANGUAGE_HINTS.get(code.strip().lower())
    hint = hint or next(iter(difflib.get_close_matches(code.lower(), SUPPORTED_LANGUAGES, n=1)), None)
    suggestion = f"; did you mean {hint!r}?" if hint else ""
    return (
        f"unknown language code {code!r}{suggestion} (supported: {', '.join(SUPPORTED_LANGUAGES)}; "
        "posts in other languages are matched by leaving `languages` empty)"
    )


def _check_languages(brands: list[Any], alerts: Any) -> list[Problem]:
    problems = []
    for i, brand in enumerate(brands):
        if isinstance(brand, dict):
            for k, code in enumerate(_list(brand.get("languages"))):
                if message := language_problem(code):
                    problems.append(Problem(f"brands[{i}].languages[{k}]", message))
    routes = alerts.get("routes") if isinstance(alerts, dict) else None
    for r, route in enumerate(_list(routes)):
        if isinstance(route, dict):
            for k, code in enumerate(_list(route.get("languages"))):
                if (message := language_problem(code)) and code != "other":
                    problems.append(Problem(f"alerts.routes[{r}].languages[{k}]", message))
    return problems


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _check_brand_tags(brands: list[Any]) -> list[Problem]:
    """Two brands whose helpdesk tags fold to the same text would mix up their tickets' views and triggers."""
    from alerts.sinks.zendesk import brand_tag

    seen: dict[str, str] = {}
    problems = []
    for i, brand in enumerate(brands):
        if not isinstance(brand, dict) or not isinstance(brand.get("name"), str):
            continue
        name = brand["name"]
        tag = brand_tag(name)
        if tag in seen and seen[tag] != name:
            problems.append(
                Problem(
                    f"brands[{i}].name",
                    f"brand {name!r} gets the same Zendesk tag {tag!r} as brand {seen[tag]!r}; "
                    "rename one of them so their tickets stay apart",
                )
            )
        seen.setdefault(tag, name)
    return problems


DATABASE_DRIVERS = {"sqlite": "built in", "postgresql": "psycopg (pip install 'psycopg[binary]')"}


def database_driver_problem(url: str) -> str | None:
    """Why SQLAlchemy could not connect with `url` on this installation (missing driver), or None."""
    supported = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except Exception:  # NoSuchModuleError, ArgumentError: an unknown database kind
        return f"unsupported database URL scheme {url.split(':', 1)[0]!r}; use {supported}"
    if parsed.get_backend_name() not in DATABASE_DRIVERS:
        return f"{parsed.get_backend_name()} is not supported; use {supported}"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return f"the database driver {parsed.drivername!r} is not installed ({exc.name}); use {supported}"
    return None


def _check_database_driver(environ: Mapping[str, str]) -> list[Problem]:
    url = environ.get("REPMON_DATABASE_URL")
    if not url:
        return []
    message = database_driver_problem(url)
    return [Problem("REPMON_DATABASE_URL", message)] if message else []


def _check_alerts(
    config: Config | None, data: Mapping[str, Any], environ: Mapping[str, str], require_secrets: bool
) -> list[Problem]:
    """Every route must reach a sink that can be built: otherwise its alerts would wait, unseen, in the outbox."""
    if config is not None:
        alerts = config.alerts
    else:  # another section is broken: still check the routes, so one run lists everything
        try:
            alerts = AlertsConfig.model_validate(data.get("alerts") or {})
        except (ValidationError, TypeError):
            return []  # reported by the structural validation
    problems: list[Problem] = []
    raw_routes = _list((data.get("alerts") or {}).get("routes")) if isinstance(data.get("alerts"), dict) else []
    installed = plugins.names("sinks")
    for r, route in enumerate(alerts.routes):
        where = f"alerts.routes[{r}]"
        raw = raw_routes[r] if r < len(raw_routes) else {}
        legacy = legacy_route_keys(raw)
        k = len(_list(raw.get("to")) if isinstance(raw, dict) else [])  # legacy entries follow the `to` ones
        for i, to in enumerate(route.to):
            at = f"{where}.to[{i}]"
            if i >= k and legacy:  # name the key the operator wrote
                at = f"{where}.{next(key for key in legacy if LEGACY_ROUTE_KEYS[key] == to.sink)}"
            problems += _target_problems(to.sink, to.target, at, alerts, environ, require_secrets, installed)
    if require_secrets:
        for name, hook in alerts.webhooks.items():
            if missing := _missing_secret(hook.secret_env, environ):
                message = f"no signing secret: {missing}"
                problems.append(Problem(f"alerts.webhooks.{name}.secret_env", message))
    return problems


def _target_problems(
    sink: str,
    target: str,
    at: str,
    alerts: AlertsConfig,
    environ: Mapping[str, str],
    require_secrets: bool,
    installed: list[str],
) -> list[Problem]:
    """What keeps one route destination from working, in the words of the sink it names."""
    if sink not in installed:
        return [Problem(f"{at}.sink", f"no sink named {sink!r}; installed: {', '.join(installed)}")]
    problems = []
    if sink == "zendesk" and not target.strip().isdigit():
        problems.append(
            Problem(
                at,
                f"{target!r} is not a Zendesk group id; give the number from Admin Center > "
                "People > Groups (`repmon zendesk test` lists them)",
            )
        )
    if not require_secrets:
        return problems
    if sink == "slack" and (how := _missing_secret(alerts.slack.bot_token_env, environ)):
        problems.append(Problem(at, f"Slack is not set up: {how} (see docs/setup-slack-zendesk.md)"))
    if sink == "zendesk":
        zendesk = alerts.zendesk
        if not zendesk.base_url:
            problems.append(Problem(at, _ZENDESK_FIELD.format("base_url")))
        if not zendesk.email:
            problems.append(Problem(at, _ZENDESK_FIELD.format("email")))
        if missing := _missing_secret(zendesk.token_env, environ):
            problems.append(Problem(at, f"no Zendesk API token: {missing}"))
    return problems


def _missing_secret(var: str, environ: Mapping[str, str]) -> str | None:
    """What to do about the secret of `var`, or None when it is set and readable."""
    try:
        return None if secret_from_env(var, environ) is not None else secret_hint(var)
    except SecretFileError as exc:  # named, but unreadable (permissions, a directory, not text)
        return f"{exc} (set {var} or fix the file)"


def route_deprecations(data: Mapping[str, Any]) -> list[Problem]:
    """Routes written with the destination keys of earlier versions: still read, each with its replacement."""
    alerts = data.get("alerts") if isinstance(data.get("alerts"), dict) else {}
    notes = []
    for r, route in enumerate(_list(alerts.get("routes"))):
        for key in legacy_route_keys(route):
            value = route[key]
            target = "" if key == "console" else value
            replacement = f'to = [{{sink = "{LEGACY_ROUTE_KEYS[key]}", target = {json.dumps(str(target))}}}]'
            notes.append(
                Problem(f"alerts.routes[{r}].{key}", f"deprecated; write {replacement} (still read this time)")
            )
    return notes


_ZENDESK_FIELD = "Zendesk is not set up: add `{}` under [alerts.zendesk] (see docs/setup-slack-zendesk.md)"
_INDEX = re.compile(r"^(brands)\[(\d+)\](?:\.(sources)\[(\d+)\])?|^(alerts\.routes)\[(\d+)\]")


def _name_location(problem: Problem, data: Mapping[str, Any]) -> Problem:
    """`brands[0].sources[2].x` -> `brands["Telia"].sources["reddit"].x`: people know names, not positions."""
    match = _INDEX.match(problem.location)
    if not match:
        return problem

    def named(items: Any, index: int, key: str, default_key: str | None = None) -> str:
        entries = [e for e in _list(items) if isinstance(e, dict)]
        items = _list(items)
        item = items[index] if index < len(items) else None
        if not isinstance(item, dict):
            return f"[{index}]"
        name = item.get(key) or (item.get(default_key) if default_key else None)
        names = [e.get(key) or (e.get(default_key) if default_key else None) for e in entries]
        if not isinstance(name, str) or not name or names.count(name) > 1:
            return f"[{index}]"
        return "[" + json.dumps(name, ensure_ascii=False) + "]"

    if match.group(5):  # alerts.routes[k]
        alerts = data.get("alerts") if isinstance(data.get("alerts"), dict) else {}
        head = "alerts.routes" + named(alerts.get("routes"), int(match.group(6)), "name")
    else:
        brands = _list(data.get("brands"))
        i = int(match.group(2))
        head = "brands" + named(brands, i, "name")
        if match.group(3):
            brand = brands[i] if i < len(brands) and isinstance(brands[i], dict) else {}
            head += ".sources" + named(brand.get("sources"), int(match.group(4)), "name", "connector")
    return Problem(head + problem.location[match.end() :], problem.message)
