"""One alert per negative-share storm, raised as early as the evidence allows and escalated as it grows.

`ShareWatch` wraps `ShareDetector` with the bookkeeping the daemon needs around it, free of any database
code so that the stage and the storm benchmark run exactly the same logic:

* **settled bins** are learnt in order (`settled`), every mention counted, late arrivals included;
* **open bins** are judged on what is scored so far (`early`), on a copy of the detector, so a storm can
  page minutes after its first post; nothing incomplete is ever learnt;
* **one alert per storm**: the key names the bin that first fired (early or settled); anything within
  `cooldown` of it belongs to the same storm. When the settled pass reaches an early alert's bin without
  firing itself, the detector enters its after-alert state there, so it does not page again later;
* **escalation**: while the storm lasts, stronger evidence (more negatives, a larger share) re-emits the
  *same key* with a higher severity; the router raises the alert's severity and never opens a second one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.detect.share import ShareDetector, ShareParams, ShareResult, share_severity
from monitor.kernel.types import Severity

_RANK: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class ShareDecision:
    """An alert to raise (`new`) or to raise in severity (same key as the storm's first alert)."""

    key_bin: datetime  # the bin whose start names the alert key
    bin: datetime  # the bin whose window carries the evidence
    result: ShareResult
    severity: Severity
    new: bool
    early: bool


@dataclass
class _Event:
    bin: datetime
    severity: Severity


class ShareWatch:
    def __init__(self, detector: ShareDetector, cooldown: timedelta, event: _Event | None = None) -> None:
        self.detector = detector
        self.cooldown = cooldown
        self.event = event

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        event = (
            None if self.event is None else {"bin": self.event.bin.isoformat(), "severity": self.event.severity}
        )
        return {"detector": self.detector.state(), "event": event}

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any] | None,
        params: ShareParams,
        cooldown: timedelta,
        legacy_early: Sequence[str] = (),
    ) -> ShareWatch:
        """Restore. `legacy_early`: bins of early alerts in the stage's earlier state format (no severity
        was kept then; medium, the least a paging alert has, so a stronger storm still escalates)."""
        state = state or {}
        if "detector" not in state:  # earlier format: the detector's own state at top level
            detector = ShareDetector.from_state(state or None, params)
            event = _Event(datetime.fromisoformat(max(legacy_early)), "medium") if legacy_early else None
            return cls(detector, cooldown, event)
        raw = state.get("event")
        event = None if not raw else _Event(datetime.fromisoformat(raw["bin"]), raw["severity"])
        return cls(ShareDetector.from_state(state["detector"], params), cooldown, event)

    # ------------------------------------------------------------------ judging

    def _storm(self, b: datetime) -> _Event | None:
        if self.event is not None and abs(self.event.bin - b) <= self.cooldown:
            return self.event
        return None

    def _judge(self, b: datetime, res: ShareResult, early: bool) -> ShareDecision | None:
        storm = self._storm(b)
        if res.fired and storm is None and res.severity is not None:
            self.event = _Event(b, res.severity)
            return ShareDecision(b, b, res, res.severity, new=True, early=early)
        if storm is None or res.surprise < self.detector.params.fire or res.total == 0:
            return None
        severity = res.severity or share_severity(
            res.surprise, res.negative / res.total, res.baseline_share, res.negative
        )
        if _RANK[severity] <= _RANK[storm.severity]:
            return None
        storm.severity = severity
        return ShareDecision(storm.bin, b, res, severity, new=False, early=early)

    def settled(self, b: datetime, negative: int, total: int) -> ShareDecision | None:
        """Learn one settled bin (in order); an alert or escalation it warrants."""
        res = self.detector.update(negative, total)
        storm = self._storm(b)
        if storm is not None and storm.bin == b and not res.fired and not res.in_event:
            self.detector.mark_alerted()  # an early alert named this bin: the storm's cooldown starts here
        return self._judge(b, res, early=False)

    def early(self, bins: Sequence[tuple[datetime, int, int]]) -> ShareDecision | None:
        """Judge the bins that have not settled (in order, the open one last) on what is scored so far.

        At most one decision per run: the first new alert, else the strongest escalation.
        """
        if not bins:
            return None
        results = self.detector.peek([(neg, tot) for _, neg, tot in bins])
        best: ShareDecision | None = None
        for (b, _, _), res in zip(bins, results, strict=True):
            decision = self._judge(b, res, early=True)
            if decision is not None and decision.new:
                return decision
            best = decision or best
        return best
