"""Report charts: date labels and source names never print on top of each other (issue 16)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from monitor.report.charts import RC, _time_axis, source_figure
from monitor.report.data import SourceHealth

START = datetime(2026, 11, 30, tzinfo=UTC)


def boxes(fig: Figure, texts) -> list:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts if t.get_text() and t.get_visible()]


def overlapping(extents) -> list:
    return [(a, b) for a, b in itertools.combinations(extents, 2) if a.overlaps(b)]


@pytest.mark.parametrize(
    ("count", "bucket"),
    [(7, timedelta(days=1)), (14, timedelta(days=1)), (31, timedelta(days=1)), (48, timedelta(hours=1))],
)
def test_time_axis_labels_do_not_overlap(count, bucket) -> None:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9, 2.8))
        ax = fig.add_subplot()
        buckets = [START + i * bucket for i in range(count)]
        ax.plot(range(count), [1] * count)
        _time_axis(ax, buckets, bucket)
        labels = [t for t in ax.get_xticklabels() if t.get_text()]
        assert len(labels) >= min(count, 5)  # thinned, not reduced to nothing
        assert overlapping(boxes(fig, labels)) == []


def source(name: str, values: list[int], health: str = "ok") -> SourceHealth:
    return SourceHealth(name, "rss", health, None, None, None, 0, tuple(values), 0)


def test_source_names_do_not_overlap_when_lines_end_together() -> None:
    buckets = [START + timedelta(days=i) for i in range(7)]
    dead = [source(f"source-{i}", [5, 4, 3, 0, 0, 0, 0], "failing") for i in range(6)]
    with matplotlib.rc_context(RC):
        fig = source_figure(buckets, timedelta(days=1), dead)
        ax = fig.axes[0]
        names = ax.get_legend().get_texts()
        assert [t.get_text() for t in names] == [f"source-{i} (failing)" for i in range(6)]
        assert overlapping(boxes(fig, names)) == []
