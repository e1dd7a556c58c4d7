"""Which routes an alert matches: facts about the alert (languages, aspects, needs_help) vs route rules.

Facts come from the candidate's evidence when the detector states them, else from the latest scores of
its mentions, so routing works whichever detector produced the candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig, QuietHours, Route, severity_rank
from alerts.view import MentionRow, ScoreRow, latest_scores
from monitor.kernel.store.tables import Mention, Score
from monitor.kernel.types import AlertCandidate


@dataclass(frozen=True)
class Facts:
    languages: frozenset[str]
    aspects: frozenset[str]
    needs_help: bool


@dataclass(frozen=True)
class Destination:
    sink: str  # an installed sink's entry-point name ("console", "slack", ... or a plugin's)
    target: str  # channel, helpdesk group, webhook name ("" for console)
    route: str


def _aspect_names(value: object, threshold: float) -> set[str]:
    if isinstance(value, dict):
        return {str(k) for k, p in value.items() if isinstance(p, int | float) and p >= threshold}
    if isinstance(value, list | tuple | set):
        return {str(v) for v in value}
    return set()


def alert_facts(
    session: Session,
    candidate: AlertCandidate,
    config: AlertsConfig,
    *,
    scores: Mapping[int, Score | ScoreRow] | None = None,
    mentions: Mapping[int, Mention | MentionRow] | None = None,
) -> Facts:
    """Facts from the evidence, else from the mentions' latest scores (`scores`/`mentions`: already read
    for a whole batch by the router, so no query; the candidate's own are read otherwise)."""
    evidence = candidate.evidence or {}
    ids = list(candidate.mention_ids)
    scores = latest_scores(session, ids) if scores is None else {i: scores[i] for i in ids if i in scores}
    languages: set[str] = set()
    if isinstance(evidence.get("language"), str):
        languages.add(evidence["language"])
    languages |= {str(lang) for lang in evidence.get("languages") or [] if isinstance(lang, str)}
    if not languages:
        languages = {s.language for s in scores.values()}
        unscored = [i for i in ids if i not in scores]
        if unscored and mentions is not None:
            languages |= {m.language for i in unscored if (m := mentions.get(i)) is not None and m.language}
        elif unscored:
            rows = session.scalars(select(Mention.language).where(Mention.id.in_(unscored)))
            languages |= {lang for lang in rows if lang}
    aspects = _aspect_names(evidence.get("aspects"), config.aspect_threshold)
    for score in scores.values():
        aspects |= _aspect_names(score.aspects or {}, config.aspect_threshold)
    if isinstance(evidence.get("needs_help"), bool):
        needs_help = evidence["needs_help"]
    else:
        needs_help = any(
            s.needs_help or s.needs_help_probability >= config.needs_help_threshold for s in scores.values()
        )
    return Facts(frozenset(languages), frozenset(aspects), needs_help)


def route_matches(route: Route, candidate: AlertCandidate, facts: Facts) -> bool:
    if route.brands and candidate.brand not in route.brands:
        return False
    if route.kinds and candidate.kind not in route.kinds:
        return False
    if route.languages and not facts.languages & set(route.languages):
        return False
    if route.aspects and not facts.aspects & set(route.aspects):
        return False
    if route.needs_help is not None and route.needs_help != facts.needs_help:
        return False
    return severity_rank(candidate.severity) >= severity_rank(route.min_severity)


def destinations(config: AlertsConfig, candidate: AlertCandidate, facts: Facts) -> list[Destination]:
    """Every destination of every matching route (deduplicated); the console when nothing matches."""
    found: dict[tuple[str, str], Destination] = {}
    for route in config.routes:
        if not route_matches(route, candidate, facts):
            continue
        for to in route.to:  # any installed sink: routing knows no sink by name
            found.setdefault((to.sink, to.target), Destination(to.sink, to.target, route.name))
    if not found and config.default_console:
        found[("console", "")] = Destination("console", "", "default")
    return list(found.values())


def in_quiet_hours(quiet: QuietHours | None, local: datetime) -> bool:
    if quiet is None:
        return False
    now_t = local.timetz().replace(tzinfo=None)
    if quiet.start <= quiet.end:
        return quiet.start <= now_t < quiet.end
    return now_t >= quiet.start or now_t < quiet.end  # the window spans midnight


def quiet_hours_end(quiet: QuietHours, local: datetime) -> datetime:
    """The next local time the window ends (when the morning digest is sent)."""
    end = datetime.combine(local.date(), quiet.end, tzinfo=local.tzinfo)
    if end <= local:
        end += timedelta(days=1)
    return end


def local_day_bounds(local: datetime) -> tuple[datetime, datetime]:
    start = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    return start, start + timedelta(days=1)
