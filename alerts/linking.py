"""Small shared lookups of the router: brands by name, a candidate's story, alert-mention links."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import AlertMention, Brand, Mention


def brand_id_for(session: Session, name: str) -> int:
    brand_id = session.scalar(select(Brand.id).where(Brand.name == name))
    if brand_id is not None:
        return brand_id
    try:
        with session.begin_nested():
            brand = Brand(name=name)
            session.add(brand)
            session.flush()
            return brand.id
    except IntegrityError:
        return session.scalars(select(Brand.id).where(Brand.name == name)).one()


def story_of(session: Session, mention_ids: Sequence[int]) -> int | None:
    """The story most of the candidate's mentions belong to."""
    if not mention_ids:
        return None
    row = session.execute(
        select(Mention.story_id, func.count())
        .where(Mention.id.in_(list(mention_ids)), Mention.story_id.is_not(None))
        .group_by(Mention.story_id)
        .order_by(func.count().desc(), Mention.story_id)
    ).first()
    return row[0] if row else None


def attach_mentions(
    session: Session,
    alert_id: int,
    mention_ids: Sequence[int],
    *,
    known: Callable[[Sequence[int]], set[int]] | None = None,
    new_alert: bool = False,
) -> list[int]:
    """Link mentions to an alert; returns the ids that were not linked before.

    `known(ids)` says which of them exist (the router answers from what it read for the whole batch);
    an alert created a moment ago (`new_alert`) has no links yet to look up.
    """
    if not mention_ids:
        return []
    have: set[int] = set()
    if not new_alert:
        have = set(session.scalars(select(AlertMention.mention_id).where(AlertMention.alert_id == alert_id)))
    if known is None:
        exist = set(session.scalars(select(Mention.id).where(Mention.id.in_(list(mention_ids)))))
    else:
        exist = known(mention_ids)
    new = [m for m in dict.fromkeys(mention_ids) if m not in have and m in exist]
    session.add_all(AlertMention(alert_id=alert_id, mention_id=m) for m in new)
    session.flush()
    return new
