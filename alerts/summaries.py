"""Digest and overflow messages: many alerts folded into one outbox row per destination and day.

The row stays pending until it is due (end of quiet hours, or a while after the daily cap was hit) and
alerts are appended to its payload meanwhile, so a night of complaints becomes one morning message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from alerts import outbox
from alerts.config import AlertsConfig
from alerts.rules import Destination, quiet_hours_end
from monitor.kernel.states import OutboxStatus
from monitor.kernel.store.tables import Alert


def add_to_summary(
    session: Session,
    config: AlertsConfig,
    kind: str,
    dest: Destination,
    alert: Alert,
    view: dict[str, Any],
    local: datetime,
    now: datetime,
) -> None:
    """Append the alert to the pending digest/overflow message of its destination (one per day)."""
    if kind == "digest":
        assert config.quiet_hours is not None
        due = quiet_hours_end(config.quiet_hours, local)
        title = f"Morning digest {due:%Y-%m-%d}"
    elif kind == "complaints":
        every = config.single_complaints_every.total_seconds() or 3600.0
        due = datetime.fromtimestamp((now.timestamp() // every + 1) * every, tz=now.tzinfo)
        title = f"Customers of {view['brand']} who need help (each has a case in the helpdesk)"
    else:
        due = now + config.overflow_summary_after
        title = f"Daily cap reached for {view['brand']} on {local:%Y-%m-%d}: alerts not posted"
    base = outbox.outbox_key(
        kind,
        dest.sink,
        dest.target,
        view["brand"] if kind in ("overflow", "complaints") else "",
        f"{due:%Y-%m-%dT%H:%M}" if kind == "complaints" else f"{due:%Y-%m-%d}",
    )
    item = {
        "alert_id": alert.id,
        "severity": alert.severity,
        "headline": view["headline"],
        "brand": view["brand"],
        "url": (view.get("top_post") or {}).get("url"),
    }
    for n in range(1, 1000):
        key = base if n == 1 else f"{base}:{n}"
        row = outbox.find(session, key)
        if row is None:
            payload: dict[str, Any] = {"title": title, "items": [item], "route": dest.route, "target": dest.target}
            if dest.sink == "slack":
                payload["channel"] = dest.target
            if dest.sink == "webhook":
                payload["webhook"] = dest.target
            outbox.enqueue(
                session, key=key, sink=dest.sink, action="digest", payload=payload, alert_id=None, due=due
            )
            return
        if row.status == OutboxStatus.PENDING and row.locked_until is None:
            row.payload = {**row.payload, "items": [*row.payload.get("items", []), item]}
            return
    raise RuntimeError(f"too many {kind} messages for {base}")
