"""Shared fixtures: real databases (SQLite and PostgreSQL), shared-data location.

Each pytest session gets its own throwaway PostgreSQL database, so concurrent runs never clash.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from monitor.kernel.store import migrate
from monitor.kernel.store.engine import Database
from monitor.kernel.store.tables import Base

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("REPMON_SHARED_DATA", REPO.parent / "shared" / "data"))
SHARED_SPECS = Path(os.environ.get("REPMON_SHARED_SPECS", REPO.parent / "shared" / "specs"))
PG_ADMIN_URL = os.environ.get("REPMON_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_specs() -> Path:
    if not SHARED_SPECS.is_dir():
        pytest.skip(f"platform API specs not found at {SHARED_SPECS}")
    return SHARED_SPECS


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test session (dropped at the end)."""
    try:
        # pre-ping: the session's pooled admin connection must survive a server restart in a test
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"repmon_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL with an empty schema, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'repmon.db'}"
    url: str = request.getfixturevalue("pg_url")
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:  # migrations tests leave Alembic's bookkeeping table behind
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a freshly created schema (both backends)."""
    eng = create_engine(db_url)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A `Database` (engine + session factory) on a schema built by the real migrations, both backends."""
    migrate.upgrade(db_url)
    db = Database(db_url)
    yield db
    db.dispose()
