"""What a successful delivery changes: the alert remembers its Slack message, tickets are recorded
and their link goes back into the Slack thread. Runs in the same transaction that marks the row delivered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts import outbox
from alerts.slack_blocks import escape, link
from alerts.view import alert_view, short_headline
from monitor.kernel.states import AlertState
from monitor.kernel.store.tables import Alert, Case, OutboxMessage, Ticket


def after_delivery(session: Session, row: OutboxMessage, now: datetime) -> None:
    result = row.result or {}
    if row.action == "open_case":
        _record_case_ticket(session, row, now)
        return
    alert = session.get(Alert, row.alert_id) if row.alert_id else None
    if alert is None:
        return
    if row.sink == "slack" and row.action == "post" and result.get("ts"):
        alert.slack_channel = result.get("channel") or alert.slack_channel
        alert.slack_ts = str(result["ts"])
    if row.sink == "zendesk" and row.action == "create_ticket" and result.get("ticket_id"):
        _record_ticket(session, alert, row, now)


def _record_ticket(session: Session, alert: Alert, row: OutboxMessage, now: datetime) -> None:
    result = row.result or {}
    external_id = str(row.payload.get("external_id"))
    ticket = session.scalars(
        select(Ticket).where(Ticket.system == "zendesk", Ticket.external_id == external_id)
    ).first()
    if ticket is None:
        ticket = Ticket(system="zendesk", external_id=external_id, alert_id=alert.id, created_at=now)
        session.add(ticket)
    ticket.ticket_id = str(result["ticket_id"])
    ticket.url = result.get("url")
    if alert.state == AlertState.OPEN:
        alert.state = AlertState.TICKETED
    alert.updated_at = now
    session.flush()
    text = ":ticket: " + link(ticket.url, f"Ticket #{ticket.ticket_id}") + " created"
    thread = alert
    if alert.route and alert.route.startswith("folded:"):  # announced inside another alert's thread
        thread = session.get(Alert, int(alert.route.split(":", 1)[1])) or alert
        text += " for: " + escape(short_headline(alert.headline))
    outbox.enqueue_thread_reply(session, thread.id, text, [], f"ticket-{ticket.ticket_id}", now, trusted=True)
    if thread is alert:
        outbox.enqueue_update(session, alert.id, alert_view(session, alert), now)


def _record_case_ticket(session: Session, row: OutboxMessage, now: datetime) -> None:
    """One Ticket row per (helpdesk, case): the read-back of Zendesk statuses and `repmon cases` use it."""
    case = session.get(Case, row.payload.get("case_id")) if row.payload.get("case_id") else None
    if case is None:
        return
    result = row.result or {}
    system = row.sink if row.sink == "zendesk" else f"webhook:{row.payload.get('webhook', '')}"
    ticket = session.scalars(select(Ticket).where(Ticket.system == system, Ticket.external_id == case.key)).first()
    if ticket is None:
        ticket = Ticket(system=system, external_id=case.key, case_id=case.id, created_at=now)
        session.add(ticket)
    if result.get("ticket_id"):
        ticket.ticket_id = str(result["ticket_id"])
        ticket.url = result.get("url")
    session.flush()
    from alerts.incidents import refresh_incident_messages  # incidents builds on the outbox: imported late

    refresh_incident_messages(session, case.id, now)
