"""The report as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched.

A Content-Security-Policy that forbids every network load makes "self-contained" checkable: a
browser opening the file reports any violation. Every piece of text that came from users or from
the configuration goes through `esc`; links are only emitted for http(s) URLs.
"""

from __future__ import annotations

import html
from datetime import datetime
from urllib.parse import urlsplit

from monitor.report.data import ReportData, Share

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
HEADLINE_CHARS = 160
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5rem;color:#1a1a1a;background:#fff;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 .2rem}h2{font-size:1.15rem;margin:2rem 0 .6rem;border-bottom:1px solid #ccc}
.meta{color:#555;margin:0 0 1rem}
.kpis{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.kpi{border:1px solid #ccc;border-radius:6px;padding:.5rem .9rem;min-width:9rem}
.kpi b{display:block;font-size:1.4rem}
figure{margin:0 0 1rem}figure svg{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#444}
.pair{display:flex;flex-wrap:wrap;gap:1.5rem}.pair figure{flex:1 1 420px}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.4rem 0 1rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.state{font-weight:600}.empty{color:#666;font-style:italic}
.h-ok::before{content:"✓ "}.h-degraded::before{content:"◐ "}.h-failing::before{content:"✗ "}
.h-disabled::before{content:"⊘ "}
@media print{h2{break-before:auto}figure{break-inside:avoid}}
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _minutes(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 90:
        return f"{value:.0f} min"
    return f"{value / 60:.1f} h"


def _link(label: str, url: str | None) -> str:
    if url and urlsplit(url).scheme in ("http", "https"):
        return f'<a href="{esc(url)}" rel="noopener noreferrer">{esc(label)}</a>'
    return esc(label)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= HEADLINE_CHARS else text[: HEADLINE_CHARS - 1] + "…"


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def _share_table(shares: list[Share], what: str) -> str:
    if not shares:
        return '<p class="empty">No scored mentions.</p>'
    rows = "".join(
        f'<tr><td>{esc(s.group)}</td><td class="n">{s.negative}</td><td class="n">{s.scored}</td>'
        f'<td class="n">{100 * s.share:.0f}%</td></tr>'
        for s in shares
    )
    return (
        f"<table><thead><tr><th>{esc(what)}</th><th>negative</th><th>scored</th><th>negative share</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _kpis(data: ReportData) -> str:
    share = f"{100 * data.negative / data.total:.0f}%" if data.total else "—"
    d = data.durations
    items = [
        ("mentions", str(data.total)),
        ("negative", f"{data.negative} ({share})"),
        ("spike alerts", str(len(data.spikes))),
        ("alerts", str(d.alerts)),
        ("median post → alert", _minutes(d.median_to_alert)),
        ("median alert → ack", _minutes(d.median_to_ack)),
        ("unacknowledged alerts", str(d.unacknowledged)),
    ]
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi"><b>{esc(v)}</b>{esc(k)}</div>' for k, v in items)
        + "</div>"
    )


def _stories(data: ReportData) -> str:
    if not data.stories:
        return '<p class="empty">No stories in this period.</p>'
    rows = []
    for s in data.stories:
        state = f"{s.alert_state} ({s.alert_severity})" if s.alert_state else "no alert"
        tickets = ", ".join(_link(label, url) for label, url in s.tickets) or "—"
        rows.append(
            f"<tr><td>{esc(_shorten(s.headline))}</td><td class='n'>{s.mentions}</td>"
            f"<td class='n'>{s.negative}</td><td>{esc(_time(s.first_seen))}</td>"
            f"<td class='state'>{esc(state)}</td><td>{tickets}</td></tr>"
        )
    return (
        "<table><thead><tr><th>story</th><th>mentions</th><th>negative</th><th>first seen</th>"
        "<th>alert state</th><th>tickets</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _spikes(data: ReportData) -> str:
    if not data.spikes:
        return '<p class="empty">No spike alerts in this period.</p>'
    rows = "".join(
        f"<tr><td>{esc(_time(s.at))}</td><td>{esc(s.kind)}</td><td>{esc(s.severity)}</td>"
        f"<td>{esc(_shorten(s.headline))}</td></tr>"
        for s in data.spikes
    )
    return (
        "<table><thead><tr><th>detected</th><th>kind</th><th>severity</th><th>headline</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _durations(data: ReportData) -> str:
    d = data.durations
    return (
        "<table><thead><tr><th></th><th>count</th><th>median</th><th>90th percentile</th></tr></thead><tbody>"
        f"<tr><td>post → alert</td><td class='n'>{len(d.to_alert)}</td><td class='n'>{_minutes(d.median_to_alert)}"
        f"</td><td class='n'>{_minutes(d.p90_to_alert)}</td></tr>"
        f"<tr><td>alert → acknowledged</td><td class='n'>{len(d.to_ack)}</td>"
        f"<td class='n'>{_minutes(d.median_to_ack)}</td><td class='n'>{_minutes(d.p90_to_ack)}</td></tr>"
        "</tbody></table>"
    )


def _sources(data: ReportData) -> str:
    if not data.sources:
        return '<p class="empty">No sources configured.</p>'
    rows = "".join(
        f"<tr><td>{esc(s.name)}</td><td>{esc(s.connector)}</td>"
        f"<td class='state h-{esc(s.health)}'>{esc(s.health)}</td><td>{esc(_time(s.health_since))}</td>"
        f"<td>{esc(s.reason or '')}</td>"
        f"<td>{esc(_time(s.last_success_at))}</td><td class='n'>{s.consecutive_failures}</td>"
        f"<td class='n'>{sum(s.per_bucket)}</td><td class='n'>{s.coverage_alerts}</td></tr>"
        for s in data.sources
    )
    return (
        "<table><thead><tr><th>source</th><th>connector</th><th>health now</th><th>since</th><th>reason</th>"
        "<th>last success</th><th>failures in a row</th><th>mentions</th><th>coverage alerts</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _aspect_table(data: ReportData) -> str:
    if not data.aspects:
        return '<p class="empty">No scored mentions.</p>'
    languages = list(data.aspects)
    names = list(next(iter(data.aspects.values())))
    head = "".join(f"<th>{esc(lang)} (n={data.aspect_base[lang]})</th>" for lang in languages)
    rows = "".join(
        f"<tr><td>{esc(a.replace('_', ' '))}</td>"
        + "".join(f"<td class='n'>{data.aspects[lang][a]}</td>" for lang in languages)
        + "</tr>"
        for a in names
    )
    return f"<table><thead><tr><th>aspect</th>{head}</tr></thead><tbody>{rows}</tbody></table>"


def render(data: ReportData, generated_at: datetime) -> str:
    """The whole page as a string."""
    from monitor.report import charts  # matplotlib: imported only when a report is drawn

    period = f"{_time(data.since)} – {_time(data.until)}"
    body = [
        f"<h1>Reputation report: {esc(data.brand)}</h1>",
        f'<p class="meta">{esc(period)} · generated {esc(_time(generated_at))}</p>',
        _kpis(data),
        "<h2 id='volume'>Mention volume by sentiment</h2>",
        _figure(
            charts.volume_chart(data),
            "Bars are stacked by sentiment (negative: diagonal hatch, neutral: dots, positive: plain, "
            "unscored: crosses); the number above each bar is its total. Dashed lines with a "
            "triangle mark spike alerts.",
        ),
        _spikes(data),
        "<h2 id='negative-share'>Negative share by source and language</h2>",
        '<div class="pair">',
        _figure(charts.share_chart(data.by_source, "source", "by-source"), "By source."),
        _figure(charts.share_chart(data.by_language, "language", "by-language"), "By language."),
        "</div>",
        _share_table(data.by_source, "source"),
        _share_table(data.by_language, "language"),
        "<h2 id='stories'>Top stories</h2>",
        _stories(data),
        "<h2 id='aspects'>Complaint aspects by language</h2>",
        _figure(
            charts.aspect_chart(data.aspects, data.aspect_base),
            "Mentions where the model gives an aspect a probability of at least 0.5, with the share of "
            "the language's scored mentions; darker cells are larger shares.",
        ),
        _aspect_table(data),
        "<h2 id='response'>Time to alert and to acknowledgement</h2>",
        _figure(
            charts.duration_chart(data.durations.to_alert, data.durations.to_ack),
            "Each alert is one point (circles: post to alert; squares: alert to acknowledgement).",
        ),
        _durations(data),
        "<h2 id='sources'>Connector health</h2>",
        _figure(
            charts.source_chart(data.buckets, data.bucket, data.sources),
            "Mentions delivered per day (or hour, for short periods) by each source (each source has its "
            "own marker and line style); a "
            "drop to zero while others continue points at a connector problem.",
        ),
        _sources(data),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Reputation report: {esc(data.brand)}</title><style>{CSS}</style></head>"
        "<body>" + "\n".join(body) + "</body></html>\n"
    )
