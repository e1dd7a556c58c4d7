"""Seeded fuzzing of every HTTP connector through the real path: loopback server -> fetch -> sync_source
-> store, on SQLite and PostgreSQL (the shared conformance platforms, answers mutated by `fuzzing`).

A small derandomised sample per connector runs here; `bench/fuzz.py` runs >= 10,000 cases each.
Asserted for every case: nothing escapes `sync_source`; a failure is a `SourceError` the connector or
client raised on purpose (not a raw exception labelled by the table, not the catch-all); and when the
mutation touched one post only, every other post the unmutated poll stores is stored. The same for
re-polls: a mutated lookup answer never escapes `repoll_due` and never gets a post erased as deleted that
the unmutated answer keeps (deleted posts are erased, so a misread lookup is lost data).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from fuzzing import CONNECTORS, Plan, load_case, mutations_for, run_case, run_repoll_case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from monitor.kernel.store.engine import Database

EXAMPLES = 25
_names = itertools.count()


def fuzzed(connector: str, examples: int) -> Callable[[Callable[[Plan], None]], Callable[[], None]]:
    """A seeded, derandomised hypothesis run of `examples` plans (mutation, seed, which call)."""
    plans = st.builds(
        Plan, st.sampled_from(mutations_for(connector, slow=False)), st.integers(0, 2**32 - 1), st.integers(0, 2)
    )

    def wrap(test: Callable[[Plan], None]) -> Callable[[], None]:
        return settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )(given(plan=plans)(test))

    return wrap


def check(outcome_plan: Plan, case: dict, db: Database, baseline: set[str]) -> None:
    outcome = run_case(case, outcome_plan, db, f"fuzz-{next(_names)}")
    where = f"{case['name']} {outcome_plan}"
    assert outcome.escaped is None, f"{where}: {type(outcome.escaped).__name__}: {outcome.escaped}"
    for result in outcome.results:
        if result.error is not None:
            assert result.error_via == "source_error", f"{where}: {result.error_via}: {result.error}"
    if outcome.applied is not None and outcome.applied.local_to is not None:
        first = outcome.results[0]
        assert first.error is None, f"{where}: one changed post failed the poll: {first.error}"
        missing = baseline - outcome.excluded(baseline) - outcome.stored
        assert not missing, f"{where}: neighbours of the changed post not stored: {sorted(missing)[:5]}"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_mutated_answers_are_classified_and_lose_no_neighbours(
    connector: str, engine: Engine, db_url: str
) -> None:
    case = load_case(connector)
    db = Database(db_url)
    baseline = run_case(case, None, db, "baseline")
    assert baseline.escaped is None and all(r.error is None for r in baseline.results), baseline.results
    assert baseline.stored, "the unmutated answers store something (the assertions below have teeth)"

    @fuzzed(connector, EXAMPLES)
    def fuzz(plan: Plan) -> None:
        check(plan, case, db, baseline.stored)

    try:
        fuzz()
    finally:
        db.dispose()


REPOLLING = [c for c in CONNECTORS if load_case(c).get("repoll", True)]
REPOLL_EXAMPLES = 15


@pytest.mark.parametrize("connector", REPOLLING)
def test_mutated_lookups_erase_nothing_and_are_classified(connector: str, engine: Engine, db_url: str) -> None:
    case = load_case(connector)
    db = Database(db_url)
    baseline = run_repoll_case(case, None, db, "baseline")
    assert baseline.escaped is None and baseline.stats is not None and baseline.stats.errors == []
    assert baseline.stats.checked, "the unmutated lookup reads counts (the assertions below have teeth)"

    @fuzzed(connector, REPOLL_EXAMPLES)
    def fuzz(plan: Plan) -> None:
        outcome = run_repoll_case(case, plan, db, f"fuzz-{next(_names)}")
        where = f"{connector} re-poll {plan}"
        assert outcome.escaped is None, f"{where}: {type(outcome.escaped).__name__}: {outcome.escaped}"
        assert outcome.stats is not None and outcome.stats.error_via in (None, "source_error"), (
            f"{where}: {outcome.stats.error_via if outcome.stats else None}: {outcome.stats}"
        )
        wrongly = outcome.wrongly_erased(baseline.erased)
        assert not wrongly, f"{where}: erased as deleted although the answer was only misread: {sorted(wrongly)}"

    try:
        fuzz()
    finally:
        db.dispose()
