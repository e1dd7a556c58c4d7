"""Route alert candidates: Alert + AlertMention + OutboxMessage rows in the caller's transaction.

Idempotent by `AlertCandidate.key`: recording the same key again adds its new mentions to the alert and
queues a thread follow-up and a message update, never a second alert. A candidate that is part of a story
that already has an alert, or that arrives within its brand+kind cooldown, is recorded (so its key stays
idempotent) but folded into the earlier alert's thread. Quiet hours fold alerts into a morning digest; a
daily cap per brand folds the excess into an overflow summary. Every call also checks source health and
raises a "coverage_lost" alert for a connector that has been failing longer than `coverage_after`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.config import AlertsConfig, severity_rank
from alerts.incidents import PROBLEM_KINDS, link_incidents, problem_key
from alerts.linking import attach_mentions, brand_id_for
from alerts.rules import (
    Destination,
    alert_facts,
    destinations,
    in_quiet_hours,
    local_day_bounds,
)
from alerts.sinks import can, is_chat, is_helpdesk, tickets_only
from alerts.summaries import add_to_summary
from alerts.view import alert_view, latest_scores, mention_view
from monitor.kernel.states import FOLDED_STATES, AlertState
from monitor.kernel.store.tables import Alert, Brand, CaseMention, Mention, Score, Source
from monitor.kernel.types import AlertCandidate, Capability

CHUNK = 5_000  # mention ids per IN list when a batch reads its candidates' mentions


class Router:
    def __init__(self, config: AlertsConfig) -> None:
        self.config = config

    # ------------------------------------------------------------------ public contract

    def record(
        self, session: Session, candidates: Sequence[AlertCandidate], now: datetime, *, coverage: bool = True
    ) -> list[int]:
        """Record candidates (plus any coverage-lost alerts, unless `coverage=False`: the pipeline stage
        checks coverage once itself) and return the ids of alerts touched."""
        extra = self.coverage_candidates(session, now) if coverage else []
        batch = _Batch.load(session, [*candidates, *extra], self.config.cases.enabled)
        batch.load_related(session, [*candidates, *extra], self.config, now)
        touched: list[int] = []
        for candidate in [*candidates, *extra]:
            alert_id = self._record_one(session, batch, candidate, now)
            if alert_id not in touched:
                touched.append(alert_id)
        # One message update per grown alert, with its view as the batch leaves it: a pending update is
        # superseded by a newer snapshot anyway, so one per follow-up only rebuilt the same view again.
        for alert in batch.updates.values():
            outbox.enqueue_update(session, alert.id, alert_view(session, alert, batch.sources), now)
        session.flush()
        return touched

    def coverage_candidates(self, session: Session, now: datetime) -> list[AlertCandidate]:
        """One candidate per source that has stayed failing/disabled for `coverage_after` or longer.

        The key includes when the health changed, so each outage alerts once and a later outage again.
        """
        cutoff = now - self.config.coverage_after
        rows = session.execute(
            select(Source, Brand.name)
            .join(Brand, Brand.id == Source.brand_id)
            .where(Source.health.in_(("failing", "disabled")), Source.health_changed_at <= cutoff)
        ).all()
        found = []
        for source, brand in rows:
            since = source.health_changed_at
            assert since is not None
            found.append(
                AlertCandidate(
                    kind="coverage_lost",
                    brand=brand,
                    key=f"coverage_lost:{source.id}:{since.isoformat()}",
                    severity=self.config.coverage_severity,
                    detected_at=now,
                    headline=f"Coverage lost: {source.name} {source.health} since {since:%Y-%m-%d %H:%M} UTC",
                    evidence={
                        "source": source.name,
                        "connector": source.connector,
                        "health": source.health,
                        "reason": source.health_reason,
                        "since": since.isoformat(),
                        "consecutive_failures": source.consecutive_failures,
                    },
                )
            )
        return found

    # ------------------------------------------------------------------ one candidate

    def _record_one(self, session: Session, batch: _Batch, candidate: AlertCandidate, now: datetime) -> int:
        existing = batch.alerts_by_key.get(candidate.key)
        if existing is not None:
            self._merge_repeat(session, batch, existing, candidate, now)
            return existing.id
        brand = batch.brands.get(candidate.brand)
        brand_id = brand.id if brand is not None else brand_id_for(session, candidate.brand)
        alert = Alert(
            key=candidate.key,
            kind=candidate.kind,
            brand_id=brand_id,
            story_id=candidate.story_id or batch.story_of(candidate.mention_ids),
            severity=candidate.severity,
            state=AlertState.OPEN,
            headline=candidate.headline,
            evidence=dict(candidate.evidence),
            detected_at=candidate.detected_at,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():  # a concurrent recorder may insert the same key first
                session.add(alert)
                session.flush()
            batch.related.append(alert)  # a parent for the candidates after it
        except IntegrityError:
            existing = self._alert_by_key(session, candidate.key)
            assert existing is not None
            batch.alerts_by_key[candidate.key] = existing
            if all(a is not existing for a in batch.related):  # a concurrent recorder's: a parent too
                batch.related.append(existing)
            self._merge_repeat(session, batch, existing, candidate, now)
            return existing.id
        batch.alerts_by_key[candidate.key] = alert
        attach_mentions(session, alert.id, candidate.mention_ids, known=batch.known, new_alert=True)

        muted = self._muted_parent(batch, alert, now)
        if muted is not None:  # a lead muted this brand+kind: keep the evidence, say nothing
            alert.state, alert.route = AlertState.COOLDOWN, f"folded:{muted.id}"
            attach_mentions(session, muted.id, candidate.mention_ids, known=batch.known)
            return alert.id
        parent = self._story_parent(batch, alert) or self._cooldown_parent(batch, alert, now)
        if parent is not None:
            return self._fold_into(session, batch, alert, parent, candidate, now)

        dests = self._destinations(session, batch, candidate)
        alert.route = ",".join(sorted({d.route for d in dests}))[:200] or None
        alert.slack_channel = next((d.target for d in dests if d.sink == "slack"), None)  # Slack buttons find it
        view = alert_view(session, alert, batch.sources)
        local = now.astimezone(self.config.tz)

        if self._over_daily_cap(batch, alert, local):  # caps govern notifications, never the helpdesk
            return self._hold_back(session, alert, candidate, dests, view, local, now, AlertState.OVERFLOW)
        if self._quiet_now(alert, local):  # a helpdesk queue is not a pager: tickets are made at night too
            return self._hold_back(session, alert, candidate, dests, view, local, now, AlertState.DIGEST)

        digested = [d for d in dests if self._digests_single_complaints(alert, d)]
        if digested and len(digested) == len(_notifying(dests)):
            alert.state = AlertState.DIGEST  # announced nowhere on its own, so it uses no budget either
        for dest in dests:
            if tickets_only(dest.sink):
                self._enqueue_ticket(session, alert, view, dest, now)
            elif dest in digested:
                add_to_summary(session, self.config, "complaints", dest, alert, view, local, now)
            else:
                payload: dict[str, Any] = {"alert": view, "route": dest.route, "target": dest.target}
                if dest.sink == "slack":  # the built-ins' own payload keys, as stored by earlier versions
                    payload["channel"] = dest.target
                if dest.sink == "webhook":
                    payload["webhook"] = dest.target
                key = outbox.outbox_key(alert.key, dest.sink, dest.target, "post")
                outbox.enqueue(
                    session, key=key, sink=dest.sink, action="post", payload=payload, alert_id=alert.id, due=now
                )
        self._link_incidents(session, alert, candidate.mention_ids, dests, now)
        return alert.id

    def _quiet_now(self, alert: Alert, local: datetime) -> bool:
        quiet = self.config.quiet_hours
        return bool(
            quiet
            and in_quiet_hours(quiet, local)
            and severity_rank(alert.severity) < severity_rank(quiet.bypass_severity)
        )

    def _hold_back(
        self,
        session: Session,
        alert: Alert,
        candidate: AlertCandidate,
        dests: list[Destination],
        view: dict[str, Any],
        local: datetime,
        now: datetime,
        state: AlertState,
    ) -> int:
        """Notifications wait in a summary (`state` overflow: the daily cap's; digest: quiet hours'), while
        the helpdesk still gets its tickets now."""
        alert.state = state
        for dest in _notifying(dests):
            add_to_summary(session, self.config, str(state), dest, alert, view, local, now)
        for dest in dests:
            if tickets_only(dest.sink):
                self._enqueue_ticket(session, alert, view, dest, now)
        self._link_incidents(session, alert, candidate.mention_ids, dests, now)
        return alert.id

    # ------------------------------------------------------------------ repeats and folding

    def _fold_into(
        self,
        session: Session,
        batch: _Batch,
        alert: Alert,
        parent: Alert,
        candidate: AlertCandidate,
        now: datetime,
    ) -> int:
        """A repeat of an announced alert (same story, or the same kind within the cooldown) is recorded
        under it: a follow-up in its thread, and the helpdesk still hears of a new customer."""
        alert.state = (
            AlertState.MERGED if parent.story_id and parent.story_id == alert.story_id else AlertState.COOLDOWN
        )
        alert.route = f"folded:{parent.id}"
        new = attach_mentions(session, parent.id, candidate.mention_ids, known=batch.known)
        self._follow_up(session, batch, parent, candidate.headline, new, f"alert{alert.id}", now)
        # another story: quiet in Slack, but its customer still gets a ticket
        if alert.state == AlertState.COOLDOWN:
            dests = self._destinations(session, batch, candidate)
            tickets = [d for d in dests if tickets_only(d.sink) and alert.kind not in PROBLEM_KINDS]
            view = alert_view(session, alert, batch.sources) if tickets else {}
            for dest in tickets:
                self._enqueue_ticket(session, alert, view, dest, now)
        if parent.kind in PROBLEM_KINDS:  # the storm grows: its new customers join the problem
            self._link_incidents(
                session, parent, candidate.mention_ids, self._destinations(session, batch, candidate), now
            )
        return alert.id

    @staticmethod
    def _alert_by_key(session: Session, key: str) -> Alert | None:
        return session.scalars(select(Alert).where(Alert.key == key)).first()

    def _merge_repeat(
        self, session: Session, batch: _Batch, alert: Alert, candidate: AlertCandidate, now: datetime
    ) -> None:
        """Same event seen again: newer evidence, more mentions, maybe higher severity; never a new alert."""
        target = alert
        if alert.route and alert.route.startswith("folded:"):
            target = session.get(Alert, int(alert.route.split(":", 1)[1])) or alert
        new = attach_mentions(session, alert.id, candidate.mention_ids, known=batch.known)
        if target is not alert:
            new = attach_mentions(session, target.id, candidate.mention_ids, known=batch.known)
        changed = bool(new)
        if candidate.evidence and dict(candidate.evidence) != (alert.evidence or {}):
            alert.evidence = {**(alert.evidence or {}), **candidate.evidence}
            changed = True
        if severity_rank(candidate.severity) > severity_rank(target.severity):
            target.severity = candidate.severity
            changed = True
        if not changed:
            return
        alert.updated_at = target.updated_at = now
        if new:
            self._follow_up(session, batch, target, None, new, "m" + "-".join(map(str, sorted(new))), now)
            if target.kind in PROBLEM_KINDS:
                self._link_incidents(session, target, new, self._destinations(session, batch, candidate), now)
        else:
            batch.updates.setdefault(target.id, target)

    def _follow_up(
        self,
        session: Session,
        batch: _Batch,
        parent: Alert,
        headline: str | None,
        new_ids: list[int],
        tag: str,
        now: datetime,
    ) -> None:
        """Thread reply with the new mentions, plus (once per batch) an update of the parent's counts."""
        mentions = batch.mention_views(new_ids)
        text = headline or f"{len(new_ids)} more mention(s)"
        if headline and new_ids:
            text += f" ({len(new_ids)} more mention(s))"
        outbox.enqueue_thread_reply(session, parent.id, text, mentions, tag, now)
        if new_ids:
            batch.updates.setdefault(parent.id, parent)

    def _story_parent(self, batch: _Batch, alert: Alert) -> Alert | None:
        """One alert per story: the first announced one. A spike or viral alert is never folded into a
        complaint's thread, though (it is the leads' message about the incident, with its own budget)."""
        if alert.story_id is None:
            return None
        found = [
            a
            for a in batch.related
            if a.story_id == alert.story_id
            and a.id != alert.id
            and a.state not in FOLDED_STATES
            and (alert.kind not in PROBLEM_KINDS or a.kind in PROBLEM_KINDS)
        ]
        return min(found, key=lambda a: a.id, default=None)

    @staticmethod
    def _muted_parent(batch: _Batch, alert: Alert, now: datetime) -> Alert | None:
        found = [
            a
            for a in batch.related
            if a.brand_id == alert.brand_id
            and a.kind == alert.kind
            and a.id != alert.id
            and a.muted_until is not None
            and a.muted_until > now
        ]
        return max(found, key=lambda a: a.muted_until or now, default=None)

    def _cooldown_parent(self, batch: _Batch, alert: Alert, now: datetime) -> Alert | None:
        """A recent announced alert of the same brand and kind, unless the new one is more severe."""
        cooldown = self.config.cooldown(alert.kind)
        if not cooldown:
            return None
        found = [
            a
            for a in batch.related
            if a.brand_id == alert.brand_id
            and a.kind == alert.kind
            and a.id != alert.id
            and a.state not in FOLDED_STATES
            and a.created_at > now - cooldown
        ]
        parent = max(found, key=lambda a: (a.created_at, a.id), default=None)
        if parent is not None and severity_rank(alert.severity) > severity_rank(parent.severity):
            return None
        return parent

    # ------------------------------------------------------------------ cap, digest, tickets

    def _over_daily_cap(self, batch: _Batch, alert: Alert, local: datetime) -> bool:
        """Budgets are per alert kind, so no number of single complaints pushes a spike into overflow."""
        cap = self.config.cap(alert.kind)
        if cap is None:
            return False
        start, end = local_day_bounds(local)
        announced = sum(
            1
            for a in batch.related
            if a.brand_id == alert.brand_id
            and a.kind == alert.kind
            and a.id != alert.id
            and a.state not in FOLDED_STATES
            and start <= a.created_at < end
        )
        return announced >= cap

    def _enqueue_ticket(
        self, session: Session, alert: Alert, view: dict[str, Any], dest: Destination, now: datetime
    ) -> None:
        """A spike or viral post gets one problem ticket; other alerts one ticket per story (or alert)."""
        if alert.kind in PROBLEM_KINDS:
            external_id = problem_key(alert)
        else:
            external_id = view.get("story_key") or f"alert:{alert.key}"
        outbox.enqueue_ticket(session, alert.id, view, dest.target, external_id, now)

    def _digests_single_complaints(self, alert: Alert, dest: Destination) -> bool:
        """Slack is for leads: a route may collect single complaints into a digest instead of posting each."""
        if alert.kind != "complaint" or not is_chat(dest.sink):
            return False
        route = next((r for r in self.config.routes if r.name == dest.route), None)
        return route is not None and route.single_complaints == "digest"

    # ------------------------------------------------------------------ cases and incidents

    def _destinations(self, session: Session, batch: _Batch, candidate: AlertCandidate) -> list[Destination]:
        """Where the alert goes. A complaint whose customers have cases reaches the helpdesk through them
        (alerts/cases.py, one ticket per customer), so its own helpdesk destinations are dropped."""
        facts = alert_facts(session, candidate, self.config, scores=batch.scores, mentions=batch.mentions)
        dests = destinations(self.config, candidate, facts)
        if candidate.kind == "complaint" and self._covered_by_cases(batch, candidate.mention_ids):
            dests = [d for d in dests if not is_helpdesk(d.sink)]
        return dests

    def _covered_by_cases(self, batch: _Batch, mention_ids: Sequence[int]) -> bool:
        if not self.config.cases.enabled or not mention_ids:
            return False
        return any(m in batch.in_cases for m in mention_ids)  # its customers have cases; the rest are reposts

    def _link_incidents(
        self, session: Session, alert: Alert, mention_ids: Sequence[int], dests: list[Destination], now: datetime
    ) -> None:
        """The cases of a spike's / viral post's customers become incidents of its problem ticket."""
        if alert.kind not in PROBLEM_KINDS or not self.config.cases.enabled:
            return
        systems = {d.sink for d in dests if is_helpdesk(d.sink)}
        if systems:
            link_incidents(session, problem_key(alert), mention_ids, now, systems)


@dataclass
class _Batch:
    """What one `record` call reads once for all its candidates (a fixed number of queries), and what
    it collects across them. Alerts created by the batch join `alerts_by_key` as they are made."""

    alerts_by_key: dict[str, Alert]
    brands: dict[str, Brand]
    sources: dict[int, str]
    mentions: dict[int, Mention]  # every candidate's mentions
    scores: dict[int, Score]  # their latest scores
    in_cases: set[int]  # those filed in a customer case
    updates: dict[int, Alert] = field(default_factory=dict)  # alerts whose message gets an update, in order
    # Every alert that can be a new alert's parent or count against its daily cap: muted ones, announced
    # ones of the local day or a cooldown, announced ones of the candidates' stories; then those this
    # call creates. The parent and cap rules filter it in memory, as their queries did.
    related: list[Alert] = field(default_factory=list)

    def load_related(
        self, session: Session, candidates: Sequence[AlertCandidate], config: AlertsConfig, now: datetime
    ) -> None:
        brand_ids = [b.id for b in self.brands.values()]
        if not brand_ids:
            return
        day_start, _ = local_day_bounds(now.astimezone(config.tz))
        since = min([day_start, *(now - config.cooldown(c.kind) for c in candidates)])
        stories = sorted({s for c in candidates if (s := c.story_id or self.story_of(c.mention_ids)) is not None})
        announced = and_(
            Alert.state.not_in(FOLDED_STATES), or_(Alert.created_at >= since, Alert.story_id.in_(stories))
        )
        query = select(Alert).where(Alert.brand_id.in_(brand_ids), or_(Alert.muted_until > now, announced))
        self.related = list(session.scalars(query.order_by(Alert.id)))

    @classmethod
    def load(cls, session: Session, candidates: Sequence[AlertCandidate], cases: bool) -> _Batch:
        keys = sorted({c.key for c in candidates})
        ids = sorted({i for c in candidates for i in c.mention_ids})
        mentions: dict[int, Mention] = {}
        in_cases: set[int] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            mentions.update((m.id, m) for m in session.scalars(select(Mention).where(Mention.id.in_(chunk))))
            if cases:
                in_cases.update(
                    session.scalars(select(CaseMention.mention_id).where(CaseMention.mention_id.in_(chunk)))
                )
        alerts = {a.key: a for a in session.scalars(select(Alert).where(Alert.key.in_(keys)))} if keys else {}
        names = sorted({c.brand for c in candidates})
        # whole rows, so the views' `session.get(Brand, id)` finds them in the session
        # whole rows, held by the batch, so the views' `session.get(Brand, id)` finds them in the session
        brands = {b.name: b for b in session.scalars(select(Brand).where(Brand.name.in_(names)))} if names else {}
        return cls(
            alerts_by_key=alerts,
            brands=brands,
            sources=dict(session.execute(select(Source.id, Source.name)).all()) if candidates else {},
            mentions=mentions,
            scores=latest_scores(session, ids),
            in_cases=in_cases,
        )

    def known(self, mention_ids: Sequence[int]) -> set[int]:
        return {i for i in mention_ids if i in self.mentions}

    def story_of(self, mention_ids: Sequence[int]) -> int | None:
        """The story most of the candidate's mentions belong to (ties: the oldest story)."""
        counts = Counter(
            m.story_id
            for i in set(mention_ids)
            if (m := self.mentions.get(i)) is not None and m.story_id is not None
        )
        return min(counts, key=lambda story: (-counts[story], story)) if counts else None

    def mention_views(self, ids: list[int]) -> list[dict[str, Any]]:
        found = sorted((self.mentions[i] for i in set(ids) if i in self.mentions), key=lambda m: m.id)
        return [mention_view(m, self.sources.get(m.source_id), self.scores.get(m.id)) for m in found]


def _notifying(dests: list[Destination]) -> list[Destination]:
    return [d for d in dests if can(d.sink, Capability.POSTS)]
