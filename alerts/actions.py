"""What a Slack button does to an alert: state in the database, a thread note, a message update.

Handlers are plain functions of (session, action, now) so they run in one transaction and can be
replayed safely: Slack redelivers an envelope that was not acknowledged, so every effect is
idempotent (thread notes are keyed by the action's `action_ts`, feedback rows are unique per user).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.cases import close_cases_of_mentions
from alerts.config import AlertsConfig
from alerts.slack_blocks import DONE, MUTE_1H, NOT_RELEVANT, WRONG_PREFIX
from alerts.view import alert_mentions, alert_view, engagement
from monitor.kernel.states import AlertState
from monitor.kernel.store.tables import Alert, Feedback
from monitor.kernel.types import SENTIMENTS

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")
MUTE_FOR = timedelta(hours=1)


class ActionError(ValueError):
    """A payload we cannot act on (unknown alert, malformed action): reported, never half-applied."""


@dataclass(frozen=True)
class Action:
    alert_id: int
    action_id: str  # create_ticket / assign / acknowledge / done / more
    user: str  # Slack user id of whoever clicked
    action_ts: str
    value: str | None = None  # button value, selected user, or overflow option
    user_name: str | None = None  # from users.info, for the thread note


def parse_block_actions(payload: dict[str, Any]) -> list[Action]:
    """The actions of a `block_actions` interactivity payload that target our alert messages."""
    if payload.get("type") != "block_actions":
        return []
    user = str((payload.get("user") or {}).get("id", ""))
    if not USER_ID.match(user):
        raise ActionError(f"unexpected user id {user!r}")
    found = []
    for act in payload.get("actions") or []:
        block_id = str(act.get("block_id", ""))
        if not block_id.startswith("alert:") or not block_id[6:].isdigit():
            continue
        value = act.get("value") or act.get("selected_user") or (act.get("selected_option") or {}).get("value")
        found.append(
            Action(int(block_id[6:]), str(act.get("action_id")), user, str(act.get("action_ts", "")), value)
        )
    return found


def apply_action(session: Session, action: Action, config: AlertsConfig, now: datetime) -> str:
    """Apply one action; returns a short description of what changed."""
    alert = session.get(Alert, action.alert_id)
    if alert is None:
        raise ActionError(f"alert {action.alert_id} does not exist")
    who = f"<@{action.user}>"
    if action.action_id == "acknowledge":
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
        alert.state = AlertState.ACKNOWLEDGED
        note = f"{who} acknowledged"
    elif action.action_id == "assign":
        if not action.value or not USER_ID.match(action.value):
            raise ActionError(f"assign: unexpected user {action.value!r}")
        alert.assignee = action.value
        note = f"{who} assigned this to <@{action.value}>"
    elif action.action_id == "create_ticket":
        view = alert_view(session, alert)
        external_id = view.get("story_key") or f"alert:{alert.key}"
        outbox.enqueue_ticket(session, alert.id, view, config.zendesk.default_group, external_id, now)
        note = f"{who} asked for a ticket"
    elif action.action_id == "more" and action.value == MUTE_1H:
        alert.muted_until = now + MUTE_FOR
        alert.state = AlertState.MUTED
        note = f"{who} muted this for 1 h: related alerts are folded in silently"
    elif action.action_id == DONE:
        alert.state = AlertState.DONE
        closed = close_cases_of_mentions(session, [m.id for m in alert_mentions(session, alert.id)], now)
        note = f"{who} marked this done: {closed} customer case(s) closed"
    elif action.action_id == "more" and action.value == NOT_RELEVANT:
        alert.state = AlertState.NOT_RELEVANT
        _feedback(session, alert, action, "not_relevant", None, now)
        note = f"{who} marked this not relevant"
    elif action.action_id == "more" and action.value and action.value.startswith(WRONG_PREFIX):
        label = action.value.removeprefix(WRONG_PREFIX)
        if label not in SENTIMENTS:
            raise ActionError(f"wrong sentiment: unknown label {label!r}")
        alert.state = AlertState.WRONG_SENTIMENT
        _feedback(session, alert, action, "wrong_sentiment", label, now)
        note = f"{who} corrected the sentiment to {label}"
    else:
        raise ActionError(f"unknown action {action.action_id}={action.value!r}")
    alert.updated_at = now
    session.flush()
    tag = f"act-{action.action_ts or now.timestamp()}-{action.action_id}"
    outbox.enqueue_thread_reply(session, alert.id, note, [], tag, now, trusted=True)
    outbox.enqueue_update(session, alert.id, alert_view(session, alert), now)
    return note


def _feedback(session: Session, alert: Alert, action: Action, kind: str, label: str | None, now: datetime) -> None:
    """A correction about the post shown in the message (the most engaged mention)."""
    mentions = alert_mentions(session, alert.id)
    top = max(mentions, key=lambda m: (engagement(m), m.author_followers or 0), default=None)
    mention_id = top.id if top else None
    existing = session.scalars(
        select(Feedback).where(Feedback.alert_id == alert.id, Feedback.kind == kind, Feedback.user == action.user)
    ).first()
    if existing is not None:  # a user changing their mind replaces their earlier correction
        existing.corrected_label, existing.mention_id, existing.created_at = label, mention_id, now
        return
    session.add(
        Feedback(
            alert_id=alert.id,
            mention_id=mention_id,
            kind=kind,
            corrected_label=label,
            user=action.user,
            created_at=now,
        )
    )
