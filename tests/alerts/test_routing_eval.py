"""`repmon eval routing` on the licensed data (skips without it): every needs-help customer reaches the
webhook helpdesk through exactly one case, through quiet hours, a daily cap, cooldowns, helpdesk faults and
two restarts. The fast lexicon scorer keeps it quick; the command's default is the shipped e5 model."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli.routing_eval import run_routing_eval

pytestmark = [pytest.mark.shared_data, pytest.mark.slow]


def test_needs_help_customers_reach_the_helpdesk_once(shared_data: Path) -> None:
    report = run_routing_eval(shared_data, n=60, seed=3, scorer="lexicon", fault_every=5)
    assert report.needs_help >= 10  # the sample really exercises routing
    assert report.share >= 0.95, report.lines()
    assert report.duplicates == 0 and report.one_case == report.reached
    assert report.follow_ups_threaded == report.follow_ups
    assert report.reposts_opened_cases == 0
    assert report.faults_injected >= 2  # the helpdesk failed and lost responses along the way
    assert {"digest", "overflow"} <= set(report.alert_states)  # quiet hours and the cap were in play
