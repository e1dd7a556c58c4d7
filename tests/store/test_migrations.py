"""The packaged Alembic migrations build exactly the schema that tables.py declares, on both backends."""

from sqlalchemy import inspect, text

from monitor.kernel.store import migrate
from monitor.kernel.store.engine import make_engine
from monitor.kernel.store.tables import Base


def test_upgrade_builds_the_declared_schema(db_url):
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert migrate.schema_differences(engine) == []
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_upgrade_is_repeatable(db_url):
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)  # a second run at head changes nothing and does not fail
    engine = make_engine(db_url)
    try:
        assert migrate.schema_differences(engine) == []
    finally:
        engine.dispose()


def test_differences_are_detected_on_an_incomplete_schema(db_url):
    """The comparison used above can fail: a database missing a table is reported."""
    engine = make_engine(db_url)
    try:
        Base.metadata.create_all(engine, tables=[Base.metadata.tables["brands"]])
        diffs = migrate.schema_differences(engine)
        assert any(d[0] == "add_table" and d[1].name == "mentions" for d in diffs)
    finally:
        engine.dispose()


def test_tables_of_other_software_in_the_same_database_are_not_differences(db_url):
    """Cluster mode keeps procrastinate's queue tables in our database; they are not ours to compare."""
    migrate.upgrade(db_url)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE other_software_jobs (id INTEGER PRIMARY KEY, payload TEXT)"))
        assert migrate.schema_differences(engine) == []
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE other_software_jobs"))
    finally:
        engine.dispose()
