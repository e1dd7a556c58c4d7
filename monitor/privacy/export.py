"""Access requests: everything held about one author, as one JSON document.

The author is found by keyed hash, so posts whose handle retention already removed are still
included (with whatever retention left of them). Copies outside the database that the operator must
handle by hand - Slack messages and helpdesk tickets about those posts - are listed with their ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import (
    Alert,
    AlertMention,
    Brand,
    Feedback,
    Mention,
    OutboxMessage,
    Score,
    Source,
    Story,
    Ticket,
)
from monitor.privacy.copies import alert_ids_for, chunks, outbox_ids_for
from monitor.privacy.erasure import KeyLike, as_pseudonymiser, author_mention_ids
from monitor.privacy.redact import Needles


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _mention(m: Mention, source: Source, brand: Brand, story: Story | None) -> dict[str, Any]:
    return {
        "id": m.id,
        "brand": brand.name,
        "source": source.name,
        "connector": source.connector,
        "external_id": m.external_id,
        "url": m.url,
        "author_handle": m.author_handle,
        "author_followers": m.author_followers,
        "created_at": _iso(m.created_at),
        "fetched_at": _iso(m.fetched_at),
        "text": m.text,
        "title": m.title,
        "language": m.language,
        "rating": m.rating,
        "parent_external_id": m.parent_external_id,
        "links": m.links,
        "engagement": {"likes": m.likes, "reposts": m.reposts, "replies": m.replies, "quotes": m.quotes},
        "raw": m.raw,
        "anonymised_at": _iso(m.anonymised_at),
        "story": {"id": story.id, "headline": story.headline} if story else None,
        "scores": [],
        "alerts": [],
        "feedback": [],
    }


def export_author(session: Session, handle: str, key: KeyLike) -> dict[str, Any]:
    """All personal data held about `handle`: mentions with scores, alerts, feedback and outbox copies."""
    pseudonymiser = as_pseudonymiser(key)
    ids = author_mention_ids(session, handle, pseudonymiser)
    mentions: dict[int, dict[str, Any]] = {}
    for batch in chunks(ids):
        rows = session.execute(
            select(Mention, Source, Brand, Story)
            .join(Source, Mention.source_id == Source.id)
            .join(Brand, Mention.brand_id == Brand.id)
            .outerjoin(Story, Mention.story_id == Story.id)
            .where(Mention.id.in_(batch))
        ).all()
        for m, source, brand, story in rows:
            mentions[m.id] = _mention(m, source, brand, story)
        for score in session.scalars(select(Score).where(Score.mention_id.in_(batch))):
            mentions[score.mention_id]["scores"].append(
                {
                    "model_version": score.model_version,
                    "label": score.label,
                    "probabilities": {
                        "negative": score.p_negative,
                        "neutral": score.p_neutral,
                        "positive": score.p_positive,
                    },
                    "language": score.language,
                    "needs_help": score.needs_help,
                    "aspects": score.aspects,
                    "scored_at": _iso(score.scored_at),
                }
            )
        for fb in session.scalars(select(Feedback).where(Feedback.mention_id.in_(batch))):
            assert fb.mention_id is not None
            mentions[fb.mention_id]["feedback"].append(
                {"kind": fb.kind, "corrected_label": fb.corrected_label, "created_at": _iso(fb.created_at)}
            )
        for link in session.scalars(select(AlertMention).where(AlertMention.mention_id.in_(batch))):
            mentions[link.mention_id]["alerts"].append(link.alert_id)

    alert_ids = alert_ids_for(session, ids)
    alerts = [_alert(a) for batch in chunks(sorted(alert_ids)) for a in _alerts(session, batch)]
    tickets = [
        {"system": t.system, "ticket_id": t.ticket_id, "url": t.url, "alert_id": t.alert_id}
        for batch in chunks(sorted(alert_ids))
        for t in session.scalars(select(Ticket).where(Ticket.alert_id.in_(batch)))
    ]
    outbox_ids = outbox_ids_for(session, alert_ids) | _outbox_quoting(session, handle, pseudonymiser)
    outbox = [
        {
            "id": o.id,
            "sink": o.sink,
            "action": o.action,
            "status": o.status,
            "created_at": _iso(o.created_at),
            "payload": o.payload,
        }
        for batch in chunks(sorted(outbox_ids))
        for o in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(batch)))
    ]
    return {
        "request": {"author_handle": handle, "generated_at": datetime.now(UTC).isoformat()},
        "author_key": pseudonymiser.author_key(handle),
        "mentions": [mentions[i] for i in ids if i in mentions],
        "alerts": alerts,
        "outbox": outbox,
        "external_copies": {
            "slack_messages": [
                {"channel": a["slack_channel"], "ts": a["slack_ts"]} for a in alerts if a["slack_ts"]
            ],
            "tickets": tickets,
        },
    }


def _alerts(session: Session, ids: list[int]) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id)))


def _alert(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind,
        "state": a.state,
        "severity": a.severity,
        "headline": a.headline,
        "evidence": a.evidence,
        "detected_at": _iso(a.detected_at),
        "slack_channel": a.slack_channel,
        "slack_ts": a.slack_ts,
    }


def _outbox_quoting(session: Session, handle: str, pseudonymiser: Pseudonymiser) -> set[int]:
    """Outbox rows that name the handle or the pseudonym though no link ties them to the author's posts."""
    needles = Needles()
    needles.add_handle(handle)
    needles.add_author_key(pseudonymiser.author_key(handle))
    redactor = needles.compile()
    found: set[int] = set()
    all_ids = session.scalars(select(OutboxMessage.id)).all()
    for batch in chunks(all_ids):
        for o in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(batch))):
            if redactor.json(o.payload) != o.payload:
                found.add(o.id)
    return found
