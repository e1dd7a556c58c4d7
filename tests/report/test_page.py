"""The page itself: self-contained, escaped, accessible, and drawn by a real browser without errors."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from monitor.cli import cli
from monitor.kernel.store.tables import Base, Brand
from monitor.report import report_html
from monitor.report.cli import register

register(cli)
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def page(tmp_path_factory, seeder) -> str:
    """Rendered once from SQLite: the page does not depend on the backend (test_data covers both)."""
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('page') / 'r.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        week = seeder(session)
    with Session(engine) as session:
        html = report_html(session, "telia", week.since, week.until, week.until)
    engine.dispose()
    return html


def test_page_is_self_contained(page):
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert "<script" not in page.lower()  # no scripts at all, so the hostile headline cannot be one
    assert not re.search(r"""(src|srcset)\s*=|<link\b|@import|url\(\s*['"]?https?:""", page, re.IGNORECASE)
    # The only absolute URLs are SVG namespaces, metadata and the one http(s) ticket link.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    allowed = {"https://example.zendesk.com/agent/tickets/77"}
    assert {
        u
        for u in urls
        if "w3.org" not in u and "purl.org" not in u and "creativecommons" not in u and "matplotlib.org" not in u
    } == allowed


def test_user_text_is_escaped_and_unsafe_links_are_not_links(page):
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Kö &amp; väntan" in page
    assert "javascript:" not in page
    assert "other #78" in page  # the ticket is still listed, as text


def test_page_shows_the_numbers(page):
    text = re.sub(r"<svg.*?</svg>", "", page, flags=re.DOTALL)  # the tables, not the chart markup
    assert "<b>13</b>mentions" in text and "<b>9 (69%)</b>negative" in text
    assert '<td>mastodon-social</td><td class="n">7</td><td class="n">9</td><td class="n">78%</td>' in text
    assert '<td>sv</td><td class="n">7</td><td class="n">8</td><td class="n">88%</td>' in text
    assert "acknowledged (high)" in text and "open (medium)" in text
    assert "<b>1.7 h</b>median post → alert" in text and "<b>30 min</b>median alert → ack" in text
    assert "h-failing'>failing</td><td>2026-06-05 09:00 UTC</td><td>auth: token expired" in text


def test_a_brand_without_data_still_gets_a_page(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        session.add(Brand(name="quiet"))
    with Session(engine) as session:
        html = report_html(session, "quiet", datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 8, tzinfo=UTC))
    engine.dispose()
    assert html.count("<svg") == 6 and "<b>0</b>mentions" in html
    assert "No stories in this period." in html and "No sources configured." in html


def test_every_chart_is_accessible_svg(page):
    svgs = re.findall(r"<svg [^>]*>", page)
    assert len(svgs) == 6
    assert all('role="img"' in s and "aria-labelledby=" in s for s in svgs)
    titles = re.findall(r'<title id="([\w-]+)-title">([^<]+)</title>', page)
    assert {t[0] for t in titles} == {"volume", "by-source", "by-language", "aspects", "durations", "sources"}
    assert "13 in total, 9 negative" in dict(titles)["volume"]
    assert len(set(re.findall(r'id="([^"]+)"', page))) == len(re.findall(r'id="([^"]+)"', page))  # ids unique


def test_cli_writes_the_report(db_url, engine, week, tmp_path, monkeypatch):
    monkeypatch.setenv("REPMON_DATABASE_URL", db_url)
    out = tmp_path / "report.html"
    args = [
        "--config",
        str(tmp_path / "none.toml"),
        "report",
        "--brand",
        "telia",
        "--since",
        "2026-06-01",
        "--until",
        "2026-06-08",
        "--output",
        str(out),
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "<b>13</b>mentions" in out.read_text(encoding="utf-8")
    bad = CliRunner().invoke(cli, [*args[:4], "nope", *args[5:]])
    assert bad.exit_code == 1 and "unknown brand 'nope'" in bad.output


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120, check=False)


def _console(stderr: str) -> list[str]:
    """Console messages (script errors, CSP violations such as a blocked network load)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Refused to" in line]


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="/usr/bin/chromium absent (install the Debian package `chromium`)"
)


@needs_chromium
def test_console_check_catches_a_blocked_load(page, tmp_path):
    """The negative control: a page that fetches something must fail the check used below."""
    html = tmp_path / "bad.html"
    html.write_text(page.replace("<body>", '<body><img src="https://example.com/x.png">', 1), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", html.as_uri())
    assert any("Content Security Policy" in line for line in _console(dom.stderr))


@needs_chromium
def test_chromium_draws_the_page_without_errors(page, tmp_path):
    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", html.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    # Console messages (script errors, CSP violations such as a blocked network load) are logged as CONSOLE.
    assert _console(dom.stderr) == []
    assert dom.stdout.count("<svg") == 6 and "Reputation report: telia" in dom.stdout

    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, "--window-size=1100,2400", f"--screenshot={shot}", html.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a drawn page, not a blank one
