"""A sink installed by another package (entry point `repmon.sinks`) is routable like the built-ins.

The plugin here is a real distribution: a `*.dist-info` with `entry_points.txt` and its module, put on
sys.path, found by importlib.metadata exactly as an installed package would be. Only our caches of the
entry points are cleared around each test, nothing of ours is replaced.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.config import AlertsConfig, Route, Target
from alerts.router import Router
from alerts.rules import Facts, destinations
from alerts.sender import OutboxSender
from alerts.sinks import capabilities
from monitor.config import Config, ConfigError, validate
from monitor.kernel import plugins
from monitor.kernel.store.tables import OutboxMessage
from monitor.kernel.types import AlertCandidate, Capability
from monitor.wiring import build_sinks

from .conftest import T0, World

PLUGIN = '''
from monitor.kernel.types import DeliveryResult

RECEIVED = []


class PagerSink:
    """A third-party sink: it declares its capabilities as plain strings and knows nothing of routing."""

    name = "pager"
    capabilities = frozenset({"posts"})

    @classmethod
    def from_config(cls, alerts_config):
        return cls()

    def deliver(self, delivery):
        RECEIVED.append(delivery)
        return DeliveryResult(ok=True, result={"incident": "P-1"})
'''


def _clear_caches() -> None:
    plugins._entry_points.cache_clear()
    capabilities.cache_clear()


@pytest.fixture
def pager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install the distribution `repmon-pager` (module `repmon_pager`) into a directory on sys.path."""
    (tmp_path / "repmon_pager.py").write_text(PLUGIN)
    info = tmp_path / "repmon_pager-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: repmon-pager\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[repmon.sinks]\npager = repmon_pager:PagerSink\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("repmon_pager", None)  # each test gets a fresh module (its own RECEIVED)
    _clear_caches()
    import repmon_pager  # type: ignore[import-not-found]

    yield repmon_pager
    sys.modules.pop("repmon_pager", None)
    monkeypatch.undo()
    _clear_caches()


def _candidate(mention_id: int) -> AlertCandidate:
    return AlertCandidate(
        kind="spike",
        brand="Acme",
        key="spike:acme:1",
        severity="high",
        detected_at=T0,
        headline="Negative mentions of Acme tripled",
        evidence={},
        mention_ids=(mention_id,),
    )


def test_a_plugin_sink_is_found_built_routed_and_delivered_to(pager: Any, world: World) -> None:
    assert "pager" in plugins.names("sinks") and capabilities("pager") == {Capability.POSTS}
    data = {"alerts": {"routes": [{"name": "oncall", "to": [{"sink": "pager", "target": "svc-7"}]}]}}
    config = validate(data, environ={}, require_secrets=False)
    sinks = build_sinks(config)
    assert isinstance(sinks["pager"], pager.PagerSink)

    with world.factory() as session, session.begin():
        mention = world.mention(session, "Appen är nere igen")
        Router(config.alerts).record(session, [_candidate(mention)], T0)
    with world.factory() as session:
        (row,) = session.scalars(select(OutboxMessage).where(OutboxMessage.sink == "pager"))
        assert row.action == "post" and row.payload["target"] == "svc-7"
    stats = OutboxSender(world.factory, sinks).drain(now=T0)
    assert stats.delivered >= 1
    (delivery,) = pager.RECEIVED
    assert delivery.payload["target"] == "svc-7" and delivery.payload["alert"]["kind"] == "spike"


def test_a_route_to_a_sink_that_is_not_installed_says_what_is(pager: Any) -> None:
    data = {"alerts": {"routes": [{"name": "oncall", "to": [{"sink": "pagr", "target": "svc-7"}]}]}}
    with pytest.raises(ConfigError) as caught:
        validate(data, environ={}, require_secrets=False)
    (problem,) = caught.value.problems
    assert problem.location == 'alerts.routes["oncall"].to[0].sink'
    assert "no sink named 'pagr'" in problem.message and "pager" in problem.message


def test_old_route_keys_still_route_the_same_and_say_what_to_write(caplog: pytest.LogCaptureFixture) -> None:
    old = {"name": "cs", "slack_channel": "C-CS", "helpdesk_group": 42, "console": True}
    with caplog.at_level(logging.WARNING, logger="monitor.config"):
        config = validate({"alerts": {"routes": [old]}}, environ={}, require_secrets=False)
    (route,) = config.alerts.routes
    slack, zendesk = Target(sink="slack", target="C-CS"), Target(sink="zendesk", target="42")
    assert route.to == [slack, zendesk, Target(sink="console")]
    messages = [r.getMessage() for r in caplog.records]
    replacement = 'write to = [{sink = "slack", target = "C-CS"}]'
    assert f'alerts.routes["cs"].slack_channel: deprecated; {replacement} (still read this time)' in messages
    assert len(messages) == 3  # one per old key
    new = Route(name="cs", to=[slack, zendesk])
    facts = Facts(frozenset({"sv"}), frozenset(), True)
    candidate = _candidate(1)
    routed = destinations(config.alerts, candidate, facts)
    assert [(d.sink, d.target) for d in routed][:2] == [
        (d.sink, d.target) for d in destinations(AlertsConfig(routes=[new]), candidate, facts)
    ]


def test_new_style_routes_give_no_deprecation(caplog: pytest.LogCaptureFixture) -> None:
    data = {"alerts": {"routes": [{"name": "cs", "to": [{"sink": "console"}]}]}}
    with caplog.at_level(logging.WARNING, logger="monitor.config"):
        config: Config = validate(data, environ={}, require_secrets=False)
    assert config.alerts.routes[0].to == [Target(sink="console", target="")] and caplog.records == []
