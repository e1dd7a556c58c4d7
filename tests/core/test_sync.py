"""Sync: fetch -> match -> store per page, health transitions logged once, backoff, re-polls.

Real connectors only: the file connector on real files, and the Mastodon connector over loopback HTTP
against the connectors' fake Mastodon instance (documented API shape, recorded payloads, fault injection).
"""

import json
import logging
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connectors.file import FileConnector
from connectors.mastodon import MastodonConnector
from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Mention, Source
from monitor.kernel.types import BrandQuery
from monitor.matching import compile_query
from monitor.sync import HealthPolicy, SourceRuntime, refresh_fingerprint, sync_source

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "connectors"))
from fake_server import FakeServer, Reply
from platform_mastodon import MastodonPlatform

PSEUDO = Pseudonymiser("sync-test-key-0123456789")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
QUERY = BrandQuery(brand="Telia", terms=("Telia",), query='"Telia"')


def runtime(database, connector, name="src", interval=timedelta(minutes=5)) -> SourceRuntime:
    with database.transaction() as s:
        ref = ensure_source(s, "Telia", name, connector.name)
    return SourceRuntime(
        ref=ref, connector=connector, query=QUERY, matcher=compile_query('"Telia"'), interval=interval
    )


def stored(database) -> int:
    with database() as s:
        return s.scalar(select(func.count()).select_from(Mention))


def source_row(database, rt) -> Source:
    with database() as s:
        return s.get(Source, rt.ref.source_id)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def row(i: int, text: str) -> dict:
    return {
        "id": f"r{i}",
        "text": text,
        "url": f"https://x.example/{i}",
        "author": f"u{i}",
        "created_at": f"2026-11-20T10:{i:02d}:00Z",
        "likes": i,
    }


def test_file_source_end_to_end_matches_brand_and_resumes(database, tmp_path):
    export = tmp_path / "export.jsonl"
    write_jsonl(
        export,
        [
            row(1, "Telia kundtjänst svarar aldrig"),
            row(2, "vädret är fint"),
            row(3, "Bytte till Telia igår"),
            row(4, "inget om varumärket"),
        ],
    )
    rt = runtime(database, FileConnector({"path": export, "page_size": 2}))
    first = sync_source(database, rt, PSEUDO, NOW)
    assert (first.pages, first.fetched, first.matched, first.stored.inserted) == (2, 4, 2, 2)
    assert first.health == "ok" and first.error is None
    again = sync_source(database, rt, PSEUDO, NOW)
    assert again.fetched == 0 and stored(database) == 2
    write_jsonl(export, [row(5, "telia! tack för hjälpen")])
    later = sync_source(database, rt, PSEUDO, NOW)
    assert later.stored.inserted == 1 and stored(database) == 3
    assert source_row(database, rt).last_success_at == NOW


def test_stop_after_a_page_commits_it_and_the_next_sync_continues(database, tmp_path):
    export = tmp_path / "export.jsonl"
    write_jsonl(export, [row(i, f"Telia nummer {i}") for i in range(1, 7)])
    rt = runtime(database, FileConnector({"path": export, "page_size": 2}))
    stop = threading.Event()
    stop.set()
    part = sync_source(database, rt, PSEUDO, NOW, stop=stop)
    assert part.interrupted and part.pages == 1 and stored(database) == 2
    rest = sync_source(database, rt, PSEUDO, NOW)
    assert rest.stored.inserted == 4 and stored(database) == 6


def test_config_error_disables_until_configuration_changes(database, tmp_path, caplog):
    rt = runtime(database, FileConnector({"path": tmp_path / "missing.jsonl"}))
    with database.transaction() as s:
        refresh_fingerprint(s, rt.ref.source_id, "v1", NOW)
    with caplog.at_level(logging.WARNING, logger="monitor.sync"):
        result = sync_source(database, rt, PSEUDO, NOW)
        assert result.health == "disabled" and "not found" in result.error
        skipped = sync_source(database, rt, PSEUDO, NOW + timedelta(hours=1))
        assert skipped.skipped.startswith("disabled")
    assert len([r for r in caplog.records if "-> disabled" in r.message]) == 1
    with database.transaction() as s:  # the operator fixes the path: a new configuration
        refresh_fingerprint(s, rt.ref.source_id, "v2", NOW)
    assert source_row(database, rt).health == "ok"


@pytest.fixture
def mastodon():
    with FakeServer(MastodonPlatform()) as server:
        yield server


def mastodon_connector(server, **overrides):
    settings = {
        "base_url": server.url,
        "allow_private_network": True,
        "search": False,
        "hashtags": ["telia"],
        "page_size": 3,
        "initial_lookback_hours": 48,
        "overlap_s": 0,
        "timeout_s": 2,
        "max_attempts": 2,
        **overrides,
    }
    return MastodonConnector(settings, sleep=lambda s: None, rng=lambda: 0.5, clock=lambda: NOW)


def test_transient_failures_degrade_then_fail_with_backoff_and_log_only_transitions(database, mastodon, caplog):
    rt = runtime(database, mastodon_connector(mastodon), interval=timedelta(minutes=5))
    policy = HealthPolicy(failing_after=3, max_backoff=timedelta(hours=1))
    mastodon.faults = [Reply(503, {"error": "down"}) for _ in range(40)]
    now = NOW
    healths, waits = [], []
    with caplog.at_level(logging.WARNING, logger="monitor.sync"):
        for _ in range(5):
            result = sync_source(database, rt, PSEUDO, now, policy=policy)
            row = source_row(database, rt)
            healths.append(result.health)
            waits.append(row.next_attempt_at - now)
            early = sync_source(database, rt, PSEUDO, now + timedelta(seconds=1), policy=policy)
            assert early.skipped and early.skipped.startswith("backing off")
            now = row.next_attempt_at
        assert healths == ["degraded", "degraded", "failing", "failing", "failing"]
        assert waits[:4] == [timedelta(minutes=m) for m in (5, 10, 20, 40)] and waits[4] == timedelta(hours=1)
        mastodon.faults = []
        ok = sync_source(database, rt, PSEUDO, now, policy=policy)
    assert ok.health == "ok" and ok.stored.inserted > 0
    transitions = [r.message for r in caplog.records if "->" in r.message]
    assert len(transitions) == 3, transitions  # ok->degraded, degraded->failing, failing->ok
    assert source_row(database, rt).consecutive_failures == 0


def test_auth_failure_disables_and_secret_never_stored(database, mastodon):
    rt = runtime(database, mastodon_connector(mastodon, search=True, access_token="wrong-token-xyz"))
    result = sync_source(database, rt, PSEUDO, NOW)
    assert result.health == "disabled"
    row = source_row(database, rt)
    assert row.last_error_kind == "auth" and "wrong-token-xyz" not in (row.health_reason or "")


def test_unexpected_errors_become_transient_and_lose_the_connectors_secrets(mastodon):
    from monitor.sync import as_source_error

    connector = mastodon_connector(mastodon, search=True, access_token="tok-very-secret-123")
    error = as_source_error(RuntimeError("GET /api?x=1 with Bearer tok-very-secret-123 failed"), connector)
    assert error.kind == "transient"
    assert "tok-very-secret-123" not in str(error) and "RuntimeError" in str(error)


# --------------------------------------------------------------------------- hostile network and payloads


def _hostile_page(platform: MastodonPlatform) -> list[dict]:
    """The recorded tag page with hostile statuses mixed in: each must be skipped or cleaned alone."""
    page = [dict(s) for s in platform.fixture("tag_telia.json")]
    good = page[0]
    nul = {**good, "id": "900000000000000001", "content": "<p>Telia\x00 svarar inte</p>"}
    nul["account"] = {**good["account"], "acct": "evil\x00user"}
    surrogate = {**good, "id": "900000000000000002", "content": "<p>Telia \udcff kö</p>"}
    counts = {**good, "id": "900000000000000003", "favourites_count": {"n": 1}, "reblogs_count": 10**30}
    confused = {**good, "id": "900000000000000004", "account": ["not", "an", "object"], "content": 5}
    ancient = {**good, "id": "900000000000000005", "created_at": "0001-01-01T00:00:00+01:00"}
    return [nul, surrogate, counts, confused, ancient, *page[1:3]]


def test_one_hostile_post_never_blocks_its_page_on_either_database(database, mastodon):
    mastodon.faults = [Reply(200, json.dumps(_hostile_page(mastodon.platform)).encode())]  # \\udcff escaped
    rt = runtime(database, mastodon_connector(mastodon))
    result = sync_source(database, rt, PSEUDO, NOW)
    assert result.health == "ok", result.error
    with database() as s:
        by_id = {m.external_id: m for m in s.scalars(select(Mention))}
    assert "Telia svarar inte" in by_id["900000000000000001"].text  # NUL dropped, post kept
    assert "\x00" not in (by_id["900000000000000001"].author_handle or "")
    assert "Telia" in by_id["900000000000000002"].text
    assert by_id["900000000000000003"].likes is None and by_id["900000000000000003"].reposts is None
    assert "900000000000000005" not in by_id  # no readable date: skipped
    assert any("unreadable item" in note for note in result.notes)  # the type-confused one, noted


@pytest.mark.parametrize("retry_after", ["inf", "1e400", "1e12"])
def test_absurd_retry_after_backs_off_a_day_at_most_instead_of_overflowing(database, mastodon, retry_after):
    """`now + timedelta(seconds=1e12)` passed year 9999: OverflowError, the poll of every later source lost."""
    mastodon.faults = [Reply(429, {"error": "slow"}, {"Retry-After": retry_after}) for _ in range(3)]
    rt = runtime(database, mastodon_connector(mastodon, max_retry_after_s=1))
    result = sync_source(database, rt, PSEUDO, NOW)
    assert result.health == "degraded" and result.error.startswith("rate_limited")
    assert source_row(database, rt).next_attempt_at - NOW == timedelta(days=1)


def test_lost_dns_backs_off_and_recovers_by_itself(database, mastodon):
    """Ten minutes without DNS: transient, never disabled; polling resumes when names resolve again."""
    offline = mastodon_connector(mastodon, base_url="https://mastodon.invalid", allow_private_network=False)
    rt = runtime(database, offline, interval=timedelta(minutes=1))
    now = NOW
    while now < NOW + timedelta(minutes=10):
        result = sync_source(database, rt, PSEUDO, now)
        assert result.health in ("degraded", "failing") and "cannot resolve host" in (result.error or "")
        now = source_row(database, rt).next_attempt_at
    back = SourceRuntime(**{**rt.__dict__, "connector": mastodon_connector(mastodon)})
    assert sync_source(database, back, PSEUDO, now).health == "ok"


def test_error_body_with_nul_is_stored_as_health_reason(database, mastodon):
    mastodon.faults = [Reply(400, b'{"error": "bad\x00request"}')]
    rt = runtime(database, mastodon_connector(mastodon))
    result = sync_source(database, rt, PSEUDO, NOW)
    assert result.health == "disabled"
    assert "badrequest" in source_row(database, rt).health_reason


def test_enable_source_brings_a_disabled_source_back(database, mastodon):
    from monitor.sync import enable_source

    rt = runtime(database, mastodon_connector(mastodon, search=True, access_token="wrong-token-xyz"))
    assert sync_source(database, rt, PSEUDO, NOW).health == "disabled"
    with database.transaction() as s:
        assert "auth" in enable_source(s, rt.ref.source_id, NOW)
    assert sync_source(database, rt, PSEUDO, NOW).skipped is None  # polled again, not skipped


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (RecursionError("deep"), "malformed"),
        (TypeError("'int' object is not subscriptable"), "malformed"),
        (UnicodeEncodeError("ascii", "ä", 0, 1, "x"), "malformed"),
        (ConnectionResetError("reset"), "transient"),
        (RuntimeError("a bug of ours"), "transient"),
    ],
)
def test_exceptions_map_to_error_kinds_by_a_table(exc, kind):
    from monitor.sync import as_source_error, classify_exception

    assert as_source_error(exc).kind == kind
    assert (classify_exception(exc) is None) == (type(exc) is RuntimeError)


def test_source_problems_name_degraded_failing_and_disabled():
    from monitor.sync import source_problems

    health = {"T/a": "ok", "T/b": "disabled", "T/c": "failing", "T/d": "degraded"}
    assert source_problems(health) == {"T/b": "disabled", "T/c": "failing", "T/d": "degraded"}


def test_a_full_disk_is_the_databases_fault_not_the_sources(tmp_path, caplog):
    """SQLITE_FULL from the real driver while storing a page: raised to the job/command (which names it),
    never logged as an unexpected connector error nor recorded as the source's failure."""
    from sqlalchemy import event, text
    from sqlalchemy.exc import OperationalError

    from monitor.kernel.store import migrate
    from monitor.kernel.store.engine import Database

    url = f"sqlite:///{tmp_path / 'full.db'}"
    migrate.upgrade(url)
    database = Database(url)
    rt = runtime(database, FileConnector({"path": tmp_path / "export.jsonl"}))
    write_jsonl(tmp_path / "export.jsonl", [row(i, "Telia " + "kö " * 400) for i in range(60)])
    with database() as s:
        pages = s.execute(text("PRAGMA page_count")).scalar()
    database.engine.dispose()

    @event.listens_for(database.engine, "connect")
    def no_growth(dbapi_conn, _record):
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 2}")

    with pytest.raises(OperationalError, match="full"), caplog.at_level(logging.ERROR):
        sync_source(database, rt, PSEUDO, NOW)
    assert "in connector" not in caplog.text
    database.engine.dispose()
    event.remove(database.engine, "connect", no_growth)
    assert source_row(database, rt).health == "ok"
