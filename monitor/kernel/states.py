"""The states stored in the database, as string enums (the procrastinate style).

Why enums: alert states and outbox statuses used to be bare strings spread over a dozen modules, where a
typo is a silent bug (a query that never matches). The members ARE the strings stored in the columns
(`StrEnum`: `AlertState.OPEN == "open"`), so the schema and existing rows are unchanged, and drivers,
JSON and f-strings see plain text.
"""

from __future__ import annotations

from enum import StrEnum


class AlertState(StrEnum):
    """`alerts.state`: where an alert stands (set by the router, Slack actions and the helpdesk)."""

    OPEN = "open"  # announced; nobody has acted on it yet
    ACKNOWLEDGED = "acknowledged"  # someone in Slack is on it
    TICKETED = "ticketed"  # a helpdesk ticket exists for it
    DONE = "done"
    MUTED = "muted"  # its story stays quiet for the mute period
    NOT_RELEVANT = "not_relevant"  # feedback: not about the brand
    WRONG_SENTIMENT = "wrong_sentiment"  # feedback: the scorer was wrong
    # Folded: recorded, but not announced on their own (see FOLDED_STATES).
    COOLDOWN = "cooldown"  # the same kind of alert was announced within the cooldown
    MERGED = "merged"  # grew an earlier alert of the same story
    OVERFLOW = "overflow"  # over the daily cap: counted in the overflow summary
    DIGEST = "digest"  # waits for a digest (quiet hours, single complaints in digest mode)


FOLDED_STATES = (AlertState.MERGED, AlertState.COOLDOWN, AlertState.OVERFLOW, AlertState.DIGEST)


class OutboxStatus(StrEnum):
    """`outbox.status`: the life of one message to one sink."""

    PENDING = "pending"  # waits for its next attempt (`next_attempt_at`)
    IN_FLIGHT = "in_flight"  # claimed by a sender until `locked_until`
    DELIVERED = "delivered"
    DEAD = "dead"  # permanent failure or attempts exhausted; `repmon outbox retry` revives it


CLAIMABLE = (OutboxStatus.PENDING, OutboxStatus.IN_FLIGHT)  # an expired in_flight claim is claimable again
FINISHED = (OutboxStatus.DELIVERED, OutboxStatus.DEAD)


class CaseState(StrEnum):
    """`cases.state`: one customer's matter with a brand."""

    OPEN = "open"
    CLOSED = "closed"


class CloseReason(StrEnum):
    """`cases.close_reason`."""

    HELPDESK = "helpdesk"  # the ticket was solved or closed in the helpdesk
    SLACK = "slack"  # a lead marked it done in Slack
    QUIET = "quiet"  # nobody wrote for `quiet_close`
