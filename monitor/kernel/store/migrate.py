"""Schema migrations with Alembic, packaged inside `monitor.kernel.store.migrations`.

No alembic.ini is needed: the configuration is built here so that `repmon db upgrade` works from an
installed package as well as from a checkout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from monitor.kernel.store.engine import make_engine
from monitor.kernel.store.tables import Base

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str | URL) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    url_text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    cfg.set_main_option("sqlalchemy.url", url_text.replace("%", "%%"))
    return cfg


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (creates every table on an empty database)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_differences(engine: Engine) -> list[Any]:
    """Differences between the live schema and `tables.py` (empty when migrations are complete)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _ours})
        return list(compare_metadata(context, Base.metadata))


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    """Only our tables: the same database may hold others' (procrastinate's queue, alembic_version)."""
    if type_ == "table":
        return name in Base.metadata.tables
    return True


def revision(url: str | URL, message: str) -> None:
    """Autogenerate a new revision from the difference between `url` (at head) and `tables.py`."""
    command.revision(alembic_config(url), message=message, autogenerate=True)
