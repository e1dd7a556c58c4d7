"""Detect -> route with the real router: a negative-share rise pages support, a launch buzz does not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from alerts.config import AlertsConfig, Route
from alerts.router import Router
from monitor.detect.stage import detect
from monitor.kernel.store.tables import Alert, OutboxMessage

from .test_stage import BIN, _brand, _config, _event, _history


def test_share_rise_pages_support_and_buzz_does_not(engine: Engine) -> None:
    with Session(engine) as s:
        unhappy, unhappy_src = _brand(s, "Unhappy")
        buzz, buzz_src = _brand(s, "Buzz")
        end = _history(s, unhappy, unhappy_src, 360, seed=1)
        _history(s, buzz, buzz_src, 360, seed=2)
        _event(s, unhappy, unhappy_src, end, 6, neg=5, pos=2)
        _event(s, buzz, buzz_src, end, 12, neg=4, pos=40)
        unhappy_id, buzz_id = unhappy.id, buzz.id
        s.commit()
    support = Route(
        name="support", kinds=["negative_spike", "complaint"], min_severity="medium", slack_channel="C-SUPPORT"
    )
    router = Router(AlertsConfig(routes=[support]))
    now = end + 12 * BIN + timedelta(minutes=15)
    with Session(engine) as s, s.begin():
        candidates = detect(s, _config(), now)
        router.record(s, candidates, now)
    with Session(engine) as s, s.begin():
        assert detect(s, _config(), now) == []  # state committed with the alerts: no repeat
    with Session(engine) as s:
        alerts = {(a.kind, a.brand_id): a for a in s.scalars(select(Alert))}
        assert ("negative_spike", unhappy_id) in alerts
        assert ("negative_spike", buzz_id) not in alerts
        slack = [m for m in s.scalars(select(OutboxMessage)) if m.sink == "slack" and m.alert_id is not None]
        paged = {s.get(Alert, m.alert_id).brand_id for m in slack}  # type: ignore[union-attr]
        assert paged == {unhappy_id}
