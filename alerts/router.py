"""Route alert candidates: Alert + AlertMention + OutboxMessage rows in the caller's transaction.

Idempotent by `AlertCandidate.key`: recording the same key again adds its new mentions to the alert and
queues a thread follow-up and a message update, never a second alert. A candidate that is part of a story
that already has an alert, or that arrives within its brand+kind cooldown, is recorded (so its key stays
idempotent) but folded into the earlier alert's thread. Quiet hours fold alerts into a morning digest; a
daily cap per brand folds the excess into an overflow summary. Every call also checks source health and
raises a "coverage_lost" alert for a connector that has been failing longer than `coverage_after`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.config import AlertsConfig, severity_rank
from alerts.incidents import PROBLEM_KINDS, link_incidents, problem_key
from alerts.router_batch import RouteBatch
from alerts.rules import (
    Destination,
    alert_facts,
    destinations,
    in_quiet_hours,
    local_day_bounds,
)
from alerts.sinks import can, is_chat, is_helpdesk, tickets_only
from alerts.summaries import add_to_summary
from alerts.view import alert_view
from monitor.kernel.states import FOLDED_STATES, AlertState
from monitor.kernel.store.tables import Alert, Brand, Source
from monitor.kernel.types import AlertCandidate, Capability


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
        everything = [*candidates, *extra]
        batch = RouteBatch.load(session, everything, self.config, now)
        batch.insert_alerts(session, everything, now)
        touched: list[int] = []
        for candidate in everything:
            alert_id = self._record_one(session, batch, candidate, now)
            if alert_id not in touched:
                touched.append(alert_id)
        batch.write(session, now)
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

    def _record_one(self, session: Session, batch: RouteBatch, candidate: AlertCandidate, now: datetime) -> int:
        existing = batch.alerts_by_key.get(candidate.key)
        if existing is not None:
            self._merge_repeat(session, batch, existing, candidate, now)
            return existing.id
        alert = batch.created[candidate.key]  # inserted for this candidate by `insert_alerts`
        batch.alerts_by_key[candidate.key] = alert
        batch.related.append(alert)  # a parent for the candidates after it
        batch.attach(alert.id, candidate.mention_ids)

        muted = self._muted_parent(batch, alert, now)
        if muted is not None:  # a lead muted this brand+kind: keep the evidence, say nothing
            alert.state, alert.route = AlertState.COOLDOWN, f"folded:{muted.id}"
            batch.attach(muted.id, candidate.mention_ids)
            return alert.id
        parent = self._story_parent(batch, alert) or self._cooldown_parent(batch, alert, now)
        if parent is not None:
            return self._fold_into(session, batch, alert, parent, candidate, now)

        dests = self._destinations(session, batch, candidate)
        alert.route = ",".join(sorted({d.route for d in dests}))[:200] or None
        alert.slack_channel = next((d.target for d in dests if d.sink == "slack"), None)  # Slack buttons find it
        view = batch.new_alert_view(alert)
        local = now.astimezone(self.config.tz)

        if self._over_daily_cap(batch, alert, local):  # caps govern notifications, never the helpdesk
            return self._hold_back(session, batch, alert, candidate, dests, view, local, now, AlertState.OVERFLOW)
        if self._quiet_now(alert, local):  # a helpdesk queue is not a pager: tickets are made at night too
            return self._hold_back(session, batch, alert, candidate, dests, view, local, now, AlertState.DIGEST)

        digested = [d for d in dests if self._digests_single_complaints(alert, d)]
        if digested and len(digested) == len(_notifying(dests)):
            alert.state = AlertState.DIGEST  # announced nowhere on its own, so it uses no budget either
        for dest in dests:
            if tickets_only(dest.sink):
                self._enqueue_ticket(batch, alert, view, dest)
            elif dest in digested:
                self._summarise(session, batch, "complaints", dest, alert, view, local, now)
            else:
                payload: dict[str, Any] = {"alert": view, "route": dest.route, "target": dest.target}
                if dest.sink == "slack":  # the built-ins' own payload keys, as stored by earlier versions
                    payload["channel"] = dest.target
                if dest.sink == "webhook":
                    payload["webhook"] = dest.target
                key = outbox.outbox_key(alert.key, dest.sink, dest.target, "post")
                batch.enqueue(outbox.NewMessage(key, dest.sink, "post", payload, alert.id))
        self._link_incidents(session, batch, alert, candidate.mention_ids, dests, now)
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
        batch: RouteBatch,
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
            self._summarise(session, batch, str(state), dest, alert, view, local, now)
        for dest in dests:
            if tickets_only(dest.sink):
                self._enqueue_ticket(batch, alert, view, dest)
        self._link_incidents(session, batch, alert, candidate.mention_ids, dests, now)
        return alert.id

    # ------------------------------------------------------------------ repeats and folding

    def _fold_into(
        self,
        session: Session,
        batch: RouteBatch,
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
        new = batch.attach(parent.id, candidate.mention_ids)
        self._follow_up(batch, parent, candidate.headline, new, f"alert{alert.id}")
        # another story: quiet in Slack, but its customer still gets a ticket
        if alert.state == AlertState.COOLDOWN:
            dests = self._destinations(session, batch, candidate)
            tickets = [d for d in dests if tickets_only(d.sink) and alert.kind not in PROBLEM_KINDS]
            view = batch.new_alert_view(alert) if tickets else {}
            for dest in tickets:
                self._enqueue_ticket(batch, alert, view, dest)
        if parent.kind in PROBLEM_KINDS:  # the storm grows: its new customers join the problem
            self._link_incidents(
                session, batch, parent, candidate.mention_ids, self._destinations(session, batch, candidate), now
            )
        return alert.id

    def _merge_repeat(
        self, session: Session, batch: RouteBatch, alert: Alert, candidate: AlertCandidate, now: datetime
    ) -> None:
        """Same event seen again: newer evidence, more mentions, maybe higher severity; never a new alert."""
        target = alert
        if alert.route and alert.route.startswith("folded:"):
            target = session.get(Alert, int(alert.route.split(":", 1)[1])) or alert
        new = batch.attach(alert.id, candidate.mention_ids)
        if target is not alert:
            new = batch.attach(target.id, candidate.mention_ids)
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
            self._follow_up(batch, target, None, new, "m" + "-".join(map(str, sorted(new))))
            if target.kind in PROBLEM_KINDS:
                dests = self._destinations(session, batch, candidate)
                self._link_incidents(session, batch, target, new, dests, now)
        else:
            batch.updates.setdefault(target.id, target)

    @staticmethod
    def _follow_up(batch: RouteBatch, parent: Alert, headline: str | None, new_ids: list[int], tag: str) -> None:
        """Thread reply with the new mentions under each of the parent's posts that has threads (as
        `outbox.enqueue_thread_reply`), plus (once per batch) an update of the parent's counts."""
        mentions = batch.mention_views(new_ids)
        text = headline or f"{len(new_ids)} more mention(s)"
        if headline and new_ids:
            text += f" ({len(new_ids)} more mention(s))"
        posts = list(batch.posts_of(parent.id))
        under = (posts[0].payload.get("alert") or {}) if posts else {}
        for post in posts:
            if not can(post.sink, Capability.THREADS):
                continue
            payload = {"text": text, "mentions": mentions, "parent_key": post.key, "trusted": False}
            payload["parent"] = {"kind": under.get("kind"), "headline": under.get("headline")}  # console shows it
            if "channel" in post.payload:
                payload["channel"] = post.payload["channel"]
            key = outbox.outbox_key(post.key, "thread_reply", tag)
            batch.enqueue(outbox.NewMessage(key, post.sink, "thread_reply", payload, parent.id))
        if new_ids:
            batch.updates.setdefault(parent.id, parent)

    def _story_parent(self, batch: RouteBatch, alert: Alert) -> Alert | None:
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
    def _muted_parent(batch: RouteBatch, alert: Alert, now: datetime) -> Alert | None:
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

    def _cooldown_parent(self, batch: RouteBatch, alert: Alert, now: datetime) -> Alert | None:
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

    def _over_daily_cap(self, batch: RouteBatch, alert: Alert, local: datetime) -> bool:
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

    @staticmethod
    def _enqueue_ticket(batch: RouteBatch, alert: Alert, view: dict[str, Any], dest: Destination) -> None:
        """A spike or viral post gets one problem ticket; other alerts one ticket per story (or alert).
        Keyed as `outbox.enqueue_ticket` (the Slack "Create ticket" button), so the two never make two."""
        if alert.kind in PROBLEM_KINDS:
            external_id = problem_key(alert)
        else:
            external_id = view.get("story_key") or f"alert:{alert.key}"
        payload = {"alert": view, "group_id": dest.target, "external_id": external_id}
        key = outbox.outbox_key("zendesk", external_id)
        batch.enqueue(outbox.NewMessage(key, "zendesk", "create_ticket", payload, alert.id))

    def _digests_single_complaints(self, alert: Alert, dest: Destination) -> bool:
        """Slack is for leads: a route may collect single complaints into a digest instead of posting each."""
        if alert.kind != "complaint" or not is_chat(dest.sink):
            return False
        route = next((r for r in self.config.routes if r.name == dest.route), None)
        return route is not None and route.single_complaints == "digest"

    # ------------------------------------------------------------------ cases and incidents

    def _destinations(self, session: Session, batch: RouteBatch, candidate: AlertCandidate) -> list[Destination]:
        """Where the alert goes. A complaint whose customers have cases reaches the helpdesk through them
        (alerts/cases.py, one ticket per customer), so its own helpdesk destinations are dropped."""
        facts = alert_facts(session, candidate, self.config, scores=batch.scores, mentions=batch.mentions)
        dests = destinations(self.config, candidate, facts)
        if candidate.kind == "complaint" and self._covered_by_cases(batch, candidate.mention_ids):
            dests = [d for d in dests if not is_helpdesk(d.sink)]
        return dests

    def _covered_by_cases(self, batch: RouteBatch, mention_ids: Sequence[int]) -> bool:
        if not self.config.cases.enabled or not mention_ids:
            return False
        return any(m in batch.in_cases for m in mention_ids)  # its customers have cases; the rest are reposts

    def _link_incidents(
        self,
        session: Session,
        batch: RouteBatch,
        alert: Alert,
        mention_ids: Sequence[int],
        dests: list[Destination],
        now: datetime,
    ) -> None:
        """The cases of a spike's / viral post's customers become incidents of its problem ticket."""
        if alert.kind not in PROBLEM_KINDS or not self.config.cases.enabled:
            return
        systems = {d.sink for d in dests if is_helpdesk(d.sink)}
        if systems:
            batch.write(session, now)  # the problem ticket queues before its incidents, as the sender wants
            link_incidents(session, problem_key(alert), mention_ids, now, systems)

    def _summarise(
        self,
        session: Session,
        batch: RouteBatch,
        kind: str,
        dest: Destination,
        alert: Alert,
        view: dict[str, Any],
        local: datetime,
        now: datetime,
    ) -> None:
        """Append the alert to its digest or overflow summary (read and written now: rows queued before
        it are written first, so outbox rows keep the order of the decisions)."""
        batch.write(session, now)
        add_to_summary(session, self.config, kind, dest, alert, view, local, now)


def _notifying(dests: list[Destination]) -> list[Destination]:
    return [d for d in dests if can(d.sink, Capability.POSTS)]
