"""`repmon eval routing`: does every customer the product marks needs-help reach the helpdesk, once?

Runs the real daemon path on real posts written by people outside the project (`../shared/data`,
read in place, never copied): distinct negative posts in en/da/sv/no, each by a different customer and
prefixed with the brand handle, are fed through the file source and `Daemon.run_once` (scorer, stories,
cases, detectors, router, outbox, sender) with everything that used to swallow customers switched on:
a daily cap far below the number of complaints, the default 30-minute cooldown, quiet hours, and a
webhook helpdesk (a loopback receiver that checks signatures, drops repeated
idempotency keys and answers some requests with 503 or loses the response after storing it). The feed
comes in three thirds, each by a new daemon on the same database (two restarts); in the last third some
customers write a second time and some others repost a customer (`RT @…:`).

Figures: customers marked needs-help by the scorer, how many reached the helpdesk, and how many did so
through exactly one case (one `open_case` per customer, follow-ups as `case_post` on the same case).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import tempfile
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from alerts.sinks.webhook import SIGNATURE_HEADER, WebhookSink, verify
from monitor.config import Config, Secrets, validate
from monitor.daemon import Daemon
from monitor.kernel.states import CLAIMABLE
from monitor.kernel.store.tables import Alert, Case, Mention, Score

BRAND, HANDLE = "Nordbank", "@nordbank"
SOURCES = {  # file under sentiment/train -> share of the sample
    "en_airline.jsonl": 0.25,
    "da_angrytweets.jsonl": 0.25,
    "sv_reviews.jsonl": 0.2,
    "sv_emoji.jsonl": 0.1,
    "no_norec.jsonl": 0.2,
}
SECRET = "routing-eval-" + "s" * 24
TARGET = 0.95


@dataclass
class RoutingReport:
    scorer: str
    customers: int = 0  # distinct posters in the sample (reposters excluded)
    needs_help: int = 0  # customers with at least one post the scorer marked needs_help
    reached: int = 0  # ... whose case reached the helpdesk
    one_case: int = 0  # ... through exactly one case
    duplicates: int = 0  # customers with more than one case at the helpdesk
    follow_ups: int = 0  # second posts of needs-help customers
    follow_ups_threaded: int = 0  # ... delivered as case_post on their case
    reposts: int = 0
    reposts_opened_cases: int = 0
    faults_injected: int = 0
    alert_states: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # case keys / mention ids that never arrived

    @property
    def share(self) -> float:
        return self.reached / self.needs_help if self.needs_help else 1.0

    @property
    def passed(self) -> bool:
        return self.share >= TARGET and self.duplicates == 0

    def lines(self) -> list[str]:
        pct = f"{self.share:.1%}"
        return [
            f"scorer {self.scorer}",
            f"customers {self.customers}, marked needs-help by the scorer {self.needs_help}",
            f"reached the helpdesk {self.reached}/{self.needs_help} ({pct}; target >= {TARGET:.0%})",
            f"through exactly one case {self.one_case}, with more than one case {self.duplicates}",
            f"second posts of needs-help customers {self.follow_ups}, threaded onto their case "
            f"{self.follow_ups_threaded}",
            f"reposts {self.reposts}, of which opened a case {self.reposts_opened_cases}",
            f"helpdesk faults injected (503 / lost response) {self.faults_injected}",
            "alerts by state (notifications only): "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.alert_states.items())),
            "PASS" if self.passed else "FAIL",
        ]


def sample_posts(data_dir: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` distinct negative posts, each by a different customer, with the brand handle in front."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for name, share in SOURCES.items():
        path = data_dir / "sentiment" / "train" / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (the licensed data lives in ../shared/data)")
        with path.open(encoding="utf-8") as handle:
            negative = [r for r in map(json.loads, handle) if r.get("label") == "negative"]
        negative = [r for r in negative if 20 <= len(r["text"]) <= 400]
        rows += rng.sample(negative, min(len(negative), max(1, round(n * share))))
    rng.shuffle(rows)
    seen: set[str] = set()
    posts = []
    for row in rows:
        text = " ".join(row["text"].split())
        if text in seen:
            continue
        seen.add(text)
        posts.append({"text": f"{HANDLE} {text}", "lang": row["lang"]})
    return posts[:n]


class _Helpdesk(ThreadingHTTPServer):
    """The webhook helpdesk: signature checked, repeats by Idempotency-Key dropped, some faults injected."""

    def __init__(self, fault_every: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.accepted: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.requests = 0
        self.faults = 0
        self.fault_every = fault_every

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/helpdesk"


class _Handler(BaseHTTPRequestHandler):
    server: _Helpdesk

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = datetime.now(UTC).timestamp()
        if not verify(SECRET.encode(), self.headers.get(SIGNATURE_HEADER, ""), body, now):
            return self._answer(401)
        key = self.headers.get("Idempotency-Key", "")
        with self.server.lock:
            self.server.requests += 1
            fault = self.server.fault_every and self.server.requests % self.server.fault_every == 0
            if key in self.server.accepted:
                return self._answer(409)
            if fault and self.server.faults % 2 == 0:
                self.server.faults += 1
                return self._answer(503)  # not stored: must be retried
            self.server.accepted[key] = json.loads(body)
            if fault:
                self.server.faults += 1
                return self._answer(500)  # stored, but the sender never hears so: the retry must not duplicate
        return self._answer(202)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _config(
    db_url: str,
    export: Path,
    helpdesk_url: str,
    scorer: str,
    now: datetime,
    *,
    key: str,
    quiet: bool = False,
    cooldowns: dict[str, str] | None = None,
) -> Config:
    start = (now - timedelta(hours=1)).time()  # quiet hours around the whole run (timezone UTC below)
    end = (now + timedelta(hours=6)).time()
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "brands": [
            {
                "name": BRAND,
                "aliases": [HANDLE],
                "sources": [{"connector": "file", "name": "export", "settings": {"path": str(export)}}],
            }
        ],
        "model": {"scorer": scorer},
        "alerts": {
            "default_console": False,
            "timezone": "UTC",
            "daily_cap": 2,  # far fewer than the complaints: caps must govern notifications only
            "routes": [
                {"name": "helpdesk", "kinds": ["complaint"], "to": [{"sink": "webhook", "target": "helpdesk"}]}
            ],
            "webhooks": {
                "helpdesk": {
                    "url": helpdesk_url,
                    "secret_env": "REPMON_EVAL_HELPDESK_SECRET",
                    "allow_private": True,
                }
            },
            "outbox": {"backoff_base": "1s", "backoff_max": "2s"},
        },
    }
    if cooldowns is not None:
        data["alerts"]["cooldowns"] = cooldowns
    if quiet:
        data["alerts"]["quiet_hours"] = {"start": _hhmm(start), "end": _hhmm(end), "bypass_severity": "critical"}
    config = validate(data, require_secrets=False)
    config._secrets = Secrets.model_construct(pseudonym_key=SecretStr(key))
    return config


def _hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _run_until_drained(daemon: Daemon, rounds: int = 30) -> None:
    """Run the pipeline until the outbox holds nothing pending (failed deliveries wait 1-2 s to retry)."""
    from monitor.kernel.store.tables import OutboxMessage

    for _ in range(rounds):
        daemon.run_once()
        with daemon.db.read() as session:
            pending = session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.status.in_(CLAIMABLE)).limit(1)
            ).first()
        if pending is None:
            return
        threading.Event().wait(1.0)  # the retry backoff is real time here


def run_routing_eval(
    data_dir: Path, *, n: int = 160, seed: int = 12, scorer: str = "e5", fault_every: int = 9
) -> RoutingReport:
    posts = sample_posts(data_dir, n, seed)
    rng = random.Random(seed + 1)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        {
            "id": f"p{i}",
            "text": p["text"],
            "author": f"customer{i:03d}",
            "url": f"https://social.example/@customer{i:03d}/{i}",
            "created_at": (now - timedelta(minutes=30) + timedelta(seconds=5 * i)).isoformat(),
            "language": p["lang"],
        }
        for i, p in enumerate(posts)
    ]
    again = rng.sample(range(len(rows)), k=max(1, len(rows) // 8))  # customers who write a second time
    follow_ups = [
        {**rows[i], "id": f"f{i}", "text": f"{HANDLE} {rows[(i + 1) % len(rows)]['text'][len(HANDLE) + 1 :]}"}
        for i in again
    ]
    reposted = rng.sample(range(len(rows)), k=max(1, len(rows) // 16))
    reposts = [
        {**rows[i], "id": f"r{i}", "author": f"fan{i:03d}", "text": f"RT @customer{i:03d}: {rows[i]['text']}"}
        for i in reposted
    ]
    os.environ.setdefault("REPMON_EVAL_HELPDESK_SECRET", SECRET)
    helpdesk = _Helpdesk(fault_every)
    server = threading.Thread(target=helpdesk.serve_forever, daemon=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="repmon-routing-eval-") as tmp:
            export, db_url = Path(tmp) / "export.jsonl", f"sqlite:///{Path(tmp) / 'eval.db'}"
            # Three phases, each a restart (a new daemon, scorer and sender on the same database): a night
            # (quiet hours: alerts wait for the digest), a day where the daily cap overflows, and a day
            # with the default 30-minute cooldown folding complaint alerts into one thread.
            key = secrets.token_hex(32)  # one pseudonymisation key for the whole run, as the key file is
            third = len(rows) // 3
            phases = [
                (rows[:third], {"quiet": True}),
                (rows[third : 2 * third], {"cooldowns": {}}),
                (rows[2 * third :] + follow_ups + reposts, {}),
            ]
            daemon: Daemon | None = None
            for chunk, overrides in phases:
                config = _config(db_url, export, helpdesk.url, scorer, now, key=key, **overrides)
                if daemon is not None:
                    daemon.db.dispose()
                _write(export, chunk)
                daemon = Daemon(
                    config, migrate_schema=True, sinks={"webhook": WebhookSink(config.alerts.webhooks)}
                )
                _run_until_drained(daemon)
            assert daemon is not None
            report = _measure(daemon, helpdesk, rows, follow_ups, reposts)
            report.scorer = daemon.scorer.version
            daemon.db.dispose()
    finally:
        helpdesk.shutdown()
        helpdesk.server_close()
    return report


def _measure(
    daemon: Daemon,
    helpdesk: _Helpdesk,
    rows: list[dict[str, Any]],
    follow_ups: list[dict[str, Any]],
    reposts: list[dict[str, Any]],
) -> RoutingReport:
    report = RoutingReport(scorer="", faults_injected=helpdesk.faults)
    bodies = list(helpdesk.accepted.values())
    opened: dict[str, set[str]] = defaultdict(set)  # customer handle -> case keys at the helpdesk
    threaded: set[str] = set()  # external ids of follow-up posts delivered as case_post
    with daemon.db.read() as session:
        mentions = {m.external_id: m for m in session.scalars(select(Mention))}
        needy = {
            mid
            for mid, flag in session.execute(select(Score.mention_id, Score.needs_help))
            if flag  # one model version per run
        }
        case_author = {c.key: c.author_key for c in session.scalars(select(Case))}
        report.alert_states = dict(Counter(session.scalars(select(Alert.state))))
    by_author_key = {m.author_key: m.author_handle for m in mentions.values()}
    by_id = {m.id: ext for ext, m in mentions.items()}
    for body in bodies:
        case = body.get("case") or {}
        if body.get("action") == "open_case":
            handle = by_author_key.get(case_author.get(case.get("case_key", "")))
            opened[str(handle)].add(case["case_key"])
        if body.get("action") == "case_post":
            threaded.add(by_id.get((body.get("post") or {}).get("id"), ""))
    customers = {r["author"]: r for r in rows}
    report.customers = len(customers)
    needs_help_customers = [
        author for author, row in customers.items() if row["id"] in mentions and mentions[row["id"]].id in needy
    ]
    report.needs_help = len(needs_help_customers)
    for author in needs_help_customers:
        keys = opened.get(author, set())
        report.reached += bool(keys)
        report.one_case += len(keys) == 1
        report.duplicates += len(keys) > 1
        if not keys:
            report.missing.append(customers[author]["id"])
    helped = set(needs_help_customers)
    report.follow_ups = sum(f["author"] in helped for f in follow_ups)
    report.follow_ups_threaded = sum(f["author"] in helped and f["id"] in threaded for f in follow_ups)
    report.reposts = len(reposts)
    report.reposts_opened_cases = sum(bool(opened.get(r["author"])) for r in reposts)
    return report
