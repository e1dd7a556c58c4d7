from sqlalchemy import inspect

EXPECTED = {
    "brands",
    "sources",
    "mentions",
    "engagement_snapshots",
    "scores",
    "stories",
    "alerts",
    "outbox",
    "tickets",
}


def test_schema_has_core_tables(engine):
    assert set(inspect(engine).get_table_names()) >= EXPECTED
