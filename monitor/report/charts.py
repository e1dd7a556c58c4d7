"""Charts as inline SVG, drawn by matplotlib.

Readable without colour: each series has its own hatch or marker, values are written on the bars,
and every chart carries a text description for screen readers. Text stays text in the SVG
(svg.fonttype=none), which keeps files small and lets the browser's fonts render it. Figures are
built with the object API (no pyplot), so rendering holds no global state.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from monitor.report.data import UNSCORED, ReportData, Share, SourceHealth

# Sentiment -> (fill, hatch). Colours from the Okabe-Ito palette (safe for colour-blind readers);
# the hatches carry the same distinction in greyscale prints.
STYLE = {
    "negative": ("#D55E00", "///"),
    "neutral": ("#BBBBBB", ".."),
    "positive": ("#009E73", ""),
    UNSCORED: ("#FFFFFF", "xx"),
}
TIME_TICKS = {1: "1 min", 5: "5 min", 15: "15 min", 60: "1 h", 240: "4 h", 1440: "1 d", 10080: "1 wk"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 10,
    "hatch.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _svg(fig: Figure, chart_id: str, description: str) -> str:
    """Serialise a figure as an accessible inline <svg> element (CSS scales it down on narrow screens)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": chart_id}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog and DOCTYPE: not allowed inside HTML
    svg = _namespace_ids(svg, chart_id)
    title = description.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return svg.replace(
        "<svg ",
        f'<svg role="img" aria-labelledby="{chart_id}-title" ',
        1,
    ).replace(">", f'><title id="{chart_id}-title">{title}</title>', 1)


def _namespace_ids(svg: str, prefix: str) -> str:
    """Prefix every id and reference to it: matplotlib numbers ids per figure, and one HTML page holds
    several figures, so `figure_1` or a hatch pattern's id would otherwise clash (the browser then
    fills one chart with another chart's pattern)."""
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    return re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)


def _time_axis(ax: Any, buckets: Sequence[datetime], bucket: timedelta) -> None:
    """Day names for daily buckets; hours (with the date at midnight) for hourly ones, thinned until the
    labels, measured as drawn, no longer touch: horizontal and readable rather than rotated or overlapping."""
    if bucket >= timedelta(days=1):
        labels = [b.strftime("%a %d %b") for b in buckets]
    else:
        labels = [b.strftime("%d %b %H:00" if b.hour == 0 or i == 0 else "%H:00") for i, b in enumerate(buckets)]
    step = max(1, -(-len(buckets) // 16))
    while True:
        positions = list(range(0, len(buckets), step))
        ax.set_xticks(positions, [labels[p] for p in positions], rotation=0, ha="center")
        if step >= len(buckets) or not _labels_overlap(ax):
            return
        step += 1


def _labels_overlap(ax: Any, gap_px: float = 4.0) -> bool:
    """Whether any two x tick labels, as the renderer lays them out, come closer than `gap_px`."""
    figure = ax.get_figure()
    canvas = FigureCanvasAgg(figure)  # measuring needs a real renderer and a laid-out figure
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = sorted(
        (label.get_window_extent(renderer) for label in ax.get_xticklabels() if label.get_text()),
        key=lambda box: box.x0,
    )
    return any(b.x0 - a.x1 < gap_px for a, b in itertools.pairwise(boxes))


def _unit(bucket: timedelta) -> str:
    return "day" if bucket >= timedelta(days=1) else "hour"


def volume_chart(data: ReportData) -> str:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(9, 3.6))
        ax = fig.add_subplot()
        positions = list(range(len(data.buckets)))
        bottom = [0] * len(positions)
        for sentiment in ("negative", "neutral", "positive", UNSCORED):
            counts = data.volume[sentiment]
            if sentiment == UNSCORED and not any(counts):
                continue
            colour, hatch = STYLE[sentiment]
            ax.bar(
                positions,
                counts,
                bottom=bottom,
                color=colour,
                hatch=hatch,
                edgecolor="#333333",
                linewidth=0.6,
                label=sentiment,
            )
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        top = max(bottom, default=0) or 1
        for x, total in zip(positions, bottom, strict=True):
            if total or len(positions) <= 16:  # many narrow bars: label only the non-empty ones
                ax.text(
                    x,
                    total + top * 0.02,
                    str(total),
                    ha="center",
                    va="bottom",
                    fontsize=8 if len(positions) <= 16 else 6,
                )
        for spike in data.spikes:
            offset = (spike.at - data.buckets[0]) / data.bucket - 0.5
            ax.axvline(offset, color="#000000", linestyle="--", linewidth=0.9)
            ax.plot([offset], [top * 1.2], marker="v", color="#000000", markersize=7)
            ax.annotate(
                f"{spike.kind.replace('_', ' ')} ({spike.severity})",
                (offset, top * 1.2),
                xytext=(4, 2),
                textcoords="offset points",
                fontsize=7,
            )
        ax.set_ylim(0, top * 1.35)
        _time_axis(ax, data.buckets, data.bucket)
        ax.set_ylabel(f"mentions per {_unit(data.bucket)}")
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=4, frameon=False, fontsize=8)
        description = (
            f"Stacked bars of mentions per {_unit(data.bucket)} by sentiment, {data.total} in total, "
            f"{data.negative} negative; dashed lines with a triangle mark {len(data.spikes)} spike alert(s)."
        )
        return _svg(fig, "volume", description)


def share_chart(shares: Sequence[Share], what: str, chart_id: str) -> str:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(4.4, 0.45 * max(len(shares), 1) + 0.9))
        ax = fig.add_subplot()
        labels = [s.group for s in shares]
        values = [100 * s.share for s in shares]
        colour, hatch = STYLE["negative"]
        ax.barh(labels, values, color=colour, hatch=hatch, edgecolor="#333333", linewidth=0.6)
        for y, share in enumerate(shares):
            ax.text(
                100 * share.share + 1.5,
                y,
                f"{100 * share.share:.0f}% ({share.negative}/{share.scored})",
                va="center",
                fontsize=8,
            )
        ax.set_xlim(0, 130)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xlabel("negative share of scored mentions, %")
        ax.invert_yaxis()
        parts = ", ".join(f"{s.group} {100 * s.share:.0f}%" for s in shares) or "no scored mentions"
        return _svg(fig, chart_id, f"Horizontal bars: negative share by {what}: {parts}.")


def aspect_chart(aspects: dict[str, dict[str, int]], base: dict[str, int]) -> str:
    """A grid of numbers shaded by share: the numbers carry the meaning, the shading only guides the eye."""
    languages = list(aspects)
    names = list(next(iter(aspects.values())).keys()) if aspects else []
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(1.3 * max(len(languages), 1) + 2.6, 0.42 * max(len(names), 1) + 1.0))
        ax = fig.add_subplot()
        grid = [[aspects[lang][a] / base[lang] if base.get(lang) else 0.0 for lang in languages] for a in names]
        if names and languages:
            ax.imshow(grid, cmap="Greys", vmin=0, vmax=max(1e-9, max(max(r) for r in grid)) * 1.6, aspect="auto")
        for y, aspect in enumerate(names):
            for x, lang in enumerate(languages):
                count = aspects[lang][aspect]
                share = 100 * count / base[lang] if base.get(lang) else 0
                ax.text(x, y, f"{count} ({share:.0f}%)", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(languages)), [f"{lang} (n={base.get(lang, 0)})" for lang in languages])
        ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names])
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        description = "Table-like grid: mentions showing each complaint aspect per language, count and share. " + (
            "; ".join(
                f"{lang}: "
                + ", ".join(f"{a.replace('_', ' ')} {aspects[lang][a]}" for a in names if aspects[lang][a])
                for lang in languages
            )
            or "no scored mentions"
        )
        return _svg(fig, "aspects", description)


def duration_chart(to_alert: Sequence[float], to_ack: Sequence[float]) -> str:
    """Every alert as a point (minutes, log scale), with the median written next to each row."""
    rows = [("post → alert", list(to_alert), "o"), ("alert → acknowledged", list(to_ack), "s")]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7, 1.9))
        ax = fig.add_subplot()
        for y, (_label, values, marker) in enumerate(rows):
            if values:
                jitter = [y + ((i % 5) - 2) * 0.06 for i in range(len(values))]
                ax.scatter(
                    [max(v, 0.5) for v in values], jitter, marker=marker, facecolors="none", edgecolors="#0072B2"
                )
                median = _median(values)
                ax.plot([max(median, 0.5)] * 2, [y - 0.3, y + 0.3], color="#000000", linewidth=2)
                ax.annotate(
                    f"median {_duration_label(median)}",
                    (max(median, 0.5), y + 0.3),
                    xytext=(3, 0),
                    textcoords="offset points",
                    fontsize=8,
                )
        ax.set_xscale("log")
        ax.set_xlim(0.5, max([*to_alert, *to_ack, 60]) * 3)
        ticks = [t for t in TIME_TICKS if t <= max([*to_alert, *to_ack, 60]) * 3]
        ax.set_xticks(ticks, [TIME_TICKS[t] for t in ticks])
        ax.minorticks_off()
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.set_ylim(-0.6, len(rows) - 0.3)
        ax.set_xlabel("time (log scale)")
        description = (
            f"Dot plot of minutes from post to alert ({len(to_alert)} alerts) and from alert to "
            f"acknowledgement ({len(to_ack)} acknowledged); a thick bar marks each median."
        )
        return _svg(fig, "durations", description)


def _duration_label(minutes: float) -> str:
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def source_chart(buckets: Sequence[datetime], bucket: timedelta, sources: Sequence[SourceHealth]) -> str:
    """Mentions per bucket per source: a source that stops delivering shows as a line dropping to zero."""
    with matplotlib.rc_context(RC):
        fig = source_figure(buckets, bucket, sources)
        parts = "; ".join(f"{s.name}: {sum(s.per_bucket)} mentions, now {s.health}" for s in sources)
        return _svg(
            fig, "sources", f"Line chart of mentions per {_unit(bucket)} for each source. {parts or 'no sources'}."
        )


def source_figure(buckets: Sequence[datetime], bucket: timedelta, sources: Sequence[SourceHealth]) -> Figure:
    """The figure behind `source_chart`. Names sit in a legend beside the plot, not at the line ends:
    sources that end on the same value (every dead source ends at 0) would print their names on top of
    each other there."""
    fig = Figure(figsize=(9, 2.8))
    ax = fig.add_subplot()
    positions = list(range(len(buckets)))
    for i, source in enumerate(sources):
        ax.plot(
            positions,
            source.per_bucket,
            marker=MARKERS[i % len(MARKERS)],
            linestyle=("-", "--", ":", "-.")[i % 4],
            color="#333333" if i % 2 else "#0072B2",
            label=f"{source.name} ({source.health})" if source.health != "ok" else source.name,
        )
    _time_axis(ax, buckets, bucket)
    ax.set_xlim(-0.5, len(positions) - 0.5)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"mentions per {_unit(bucket)}")
    if sources:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8, borderaxespad=0)
    return fig
