"""Incidents: a spike, storm or viral post is one problem; each affected customer's case is an incident of it.

The problem alert gets one Zendesk *problem* ticket (external id `repmon-problem-<alert id>`) and the case
tickets of its customers become *incidents* with `problem_id`, so agents answer all of them at once and
still see each person; the webhook helpdesk gets the same link as a `link_incident` event. A customer in
two incidents stays linked to the first; the second is noted on the ticket. While the problem is recent,
new customers whose posts join one of its stories join the incident too, and the leads' Slack message
(one per incident) is updated with the new count and ticket links.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.cases import case_view, cases_of, helpdesk_payload, opening_key
from alerts.linking import attach_mentions
from alerts.sinks import is_helpdesk
from alerts.view import alert_view
from monitor.kernel.states import FOLDED_STATES
from monitor.kernel.store.tables import Alert, AlertMention, Case, CaseMention, Mention, OutboxMessage

PROBLEM_KINDS = ("negative_spike", "volume_spike", "virality")  # one incident, many customers
GROWS_FOR = timedelta(hours=24)  # a problem this old no longer absorbs new customers


def problem_key(alert: Alert) -> str:
    """External id of an incident's problem ticket (stable: the alert id never changes once committed)."""
    return f"repmon-problem-{alert.id}"


def problem_systems(session: Session, alert_id: int) -> set[str]:
    """The helpdesks the problem alert reached (a Zendesk problem ticket, a webhook event)."""
    rows = session.scalars(
        select(OutboxMessage.sink).where(
            OutboxMessage.alert_id == alert_id, OutboxMessage.action.in_(("create_ticket", "post"))
        )
    )
    return {sink for sink in rows if is_helpdesk(sink)}


def link_incidents(
    session: Session, problem_key: str, mention_ids: Sequence[int], now: datetime, systems: set[str]
) -> list[int]:
    """Cases of these posts become incidents of `problem_key` (a spike/viral alert's problem ticket).

    A case already linked to another problem keeps its first link; the second is noted on its ticket.
    Only the helpdesks in `systems` (those the problem alert went to) get the link.
    Returns the ids of the cases that got a new link or note.
    """
    if not mention_ids:
        return []
    cases = session.scalars(select(Case).where(Case.id.in_(cases_of(mention_ids))).order_by(Case.id)).all()
    linked = []
    for case in cases:
        if case.problem_key == problem_key:
            continue
        note_only = case.problem_key is not None
        if not note_only:
            case.problem_key = problem_key
        for sink, target, route in case.destinations or []:
            if sink not in systems:  # that helpdesk has no problem ticket to link to
                continue
            parent = opening_key(sink, target, case.key)
            payload = {
                **helpdesk_payload(sink, target, route, case_view(session, case)),
                "problem_external_id": problem_key,
                "note_only": note_only,
                "parent_key": parent,
            }
            outbox.enqueue(
                session,
                key=outbox.outbox_key(parent, "incident", problem_key),
                sink=sink,
                action="link_incident",
                payload=payload,
                alert_id=None,
                due=now,
            )
        linked.append(case.id)
    return linked


def grow_incidents(session: Session, case_ids: Sequence[int], now: datetime) -> list[int]:
    """New customers in a recent problem's stories join that incident; returns the problem alert ids grown."""
    if not case_ids:
        return []
    rows = session.execute(
        select(Mention.id, Mention.story_id)
        .join(CaseMention, CaseMention.mention_id == Mention.id)
        .where(CaseMention.case_id.in_(list(case_ids)), Mention.story_id.is_not(None))
    ).all()
    by_story: dict[int, list[int]] = {}
    for mention_id, story_id in rows:
        by_story.setdefault(story_id, []).append(mention_id)
    if not by_story:
        return []
    pairs = session.execute(
        select(Alert.id, Mention.story_id)
        .join(AlertMention, AlertMention.alert_id == Alert.id)
        .join(Mention, Mention.id == AlertMention.mention_id)
        .where(
            Alert.kind.in_(PROBLEM_KINDS),
            Alert.state.not_in(FOLDED_STATES),
            Alert.created_at >= now - GROWS_FOR,
            Mention.story_id.in_(list(by_story)),
        )
        .distinct()
        .order_by(Alert.id)
    ).all()
    grown: list[int] = []
    for alert_id, story_id in pairs:
        alert = session.get_one(Alert, alert_id)
        new = attach_mentions(session, alert.id, by_story.get(story_id, []))
        if not new:
            continue
        systems = problem_systems(session, alert.id)
        if systems:
            link_incidents(session, problem_key(alert), new, now, systems)
        text = f"{len(new)} more customer post(s) in this incident"
        outbox.enqueue_thread_reply(session, alert.id, text, [], "grow-" + "-".join(map(str, new)), now)
        outbox.enqueue_update(session, alert.id, alert_view(session, alert), now)
        alert.updated_at = now
        grown.append(alert.id)
    return grown


def refresh_incident_messages(session: Session, case_id: int, now: datetime) -> None:
    """A case ticket now exists: the leads' incident message(s) showing this customer get its link."""
    alerts = session.scalars(
        select(Alert).where(
            Alert.kind.in_(PROBLEM_KINDS),
            Alert.id.in_(
                select(AlertMention.alert_id).where(
                    AlertMention.mention_id.in_(
                        select(CaseMention.mention_id).where(CaseMention.case_id == case_id)
                    )
                )
            ),
        )
    ).all()
    for alert in alerts:
        outbox.enqueue_update(session, alert.id, alert_view(session, alert), now)
