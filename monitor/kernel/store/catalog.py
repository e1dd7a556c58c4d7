"""Brands and sources rows for what the configuration names.

The configuration is the source of truth for which brands and sources exist; the database keeps
their ids stable (mentions point at them) plus the state the configuration cannot hold: cursors
and health. Rows are matched by name, so a restart with the same file reuses the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.kernel.store.tables import Brand, Source


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Ids of one configured source and its brand."""

    brand: str
    brand_id: int
    source: str
    source_id: int
    connector: str


def ensure_brand(session: Session, name: str) -> int:
    brand_id = session.scalar(select(Brand.id).where(Brand.name == name))
    if brand_id is None:
        brand = Brand(name=name)
        session.add(brand)
        session.flush()
        brand_id = brand.id
    return brand_id


def ensure_source(session: Session, brand: str, source: str, connector: str) -> SourceRef:
    """The row for (brand, source), created if new; a changed connector keeps the row but resets its cursor."""
    brand_id = ensure_brand(session, brand)
    row = session.scalar(select(Source).where(Source.brand_id == brand_id, Source.name == source))
    if row is None:
        row = Source(brand_id=brand_id, name=source, connector=connector, health="ok", consecutive_failures=0)
        session.add(row)
        session.flush()
    elif row.connector != connector:  # a cursor of another connector means nothing to this one
        row.connector = connector
        row.cursor = None
    return SourceRef(brand=brand, brand_id=brand_id, source=source, source_id=row.id, connector=connector)
