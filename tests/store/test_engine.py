"""SQLite is configured for one writer at a time without 'database is locked' failures."""

import threading

from sqlalchemy import func, select, text

from monitor.kernel.store import migrate
from monitor.kernel.store.catalog import ensure_brand
from monitor.kernel.store.engine import Database
from monitor.kernel.store.tables import Brand


def test_sqlite_pragmas(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.transaction() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert s.execute(text("PRAGMA busy_timeout")).scalar() >= 10_000
    db.dispose()


def test_concurrent_writers_all_succeed(db_url):
    migrate.upgrade(db_url)
    db = Database(db_url)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                with db.transaction() as s:
                    current = s.scalar(select(func.count()).select_from(Brand))
                    ensure_brand(s, f"brand-{n}-{i}-{current}")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Brand)) == 120
    db.dispose()


def test_foreign_keys_enforced_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'fk.db'}"
    migrate.upgrade(url)
    db = Database(url)
    try:
        with db.transaction() as s:
            s.execute(
                text(
                    "INSERT INTO sources (brand_id, name, connector, health, consecutive_failures, "
                    "created_at) VALUES (999, 'x', 'file', 'ok', 0, '2026-01-01')"
                )
            )
        raised = False
    except Exception:
        raised = True
    assert raised
    db.dispose()


def test_a_reader_never_holds_up_the_writer(db_url):
    """An open read session (e.g. a long export) does not take the SQLite write slot."""
    migrate.upgrade(db_url)
    db = Database(db_url)
    try:
        with db.read() as reader:
            assert reader.scalar(select(func.count()).select_from(Brand)) == 0  # snapshot taken
            with db.transaction() as writer:
                ensure_brand(writer, "written-while-reading")
            assert reader.scalar(select(func.count()).select_from(Brand)) == 0  # still its own snapshot
        with db.read() as reader:
            assert reader.scalar(select(func.count()).select_from(Brand)) == 1
    finally:
        db.dispose()
