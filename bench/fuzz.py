"""Fuzz every HTTP connector through the real path: loopback server -> connector.fetch -> sync_source ->
store (SQLite by default), with answers mutated by `tests/connectors/fuzzing.py`, and print issue 15's table.

Each case is one plan (mutation, seed, which data request) applied to a fresh source polled twice (the
second poll reads the cursor the mutated answer left). Mutations are taken round-robin so every kind
gets the same share; seeds are consecutive from --seed, so any row can be replayed with --replay.
In-process, one case at a time (the fake server runs in threads of this process).

Columns: ok | clean SourceError by kind (raised on purpose by the connector/client) | raw exception the
sync's EXCEPTION_KINDS table labelled | caught only by the catch-all | escaped sync_source | hung (a case
longer than --hang-s) | lost neighbours (a one-post mutation that cost other posts of the page) |
peak RSS growth of the process during one case (VmHWM reset per case via /proc/self/clear_refs).

`--repoll` fuzzes the engagement re-poll instead: a clean poll, then `repoll_due` over every stored post
with one lookup answer mutated. There "lost neighbours" counts posts erased as deleted that the unmutated
answer keeps (a misread lookup must never erase), and "escaped" exceptions that left `repoll_due`.

    nice -n 10 .venv/bin/python bench/fuzz.py --cases 10000 [--connectors mastodon,rss] [--db URL]
    .venv/bin/python bench/fuzz.py --replay reddit item_texts/seed=17/call=0
    nice -n 10 .venv/bin/python bench/fuzz.py --repoll --cases 10000 [--connectors x,bluesky]
"""

from __future__ import annotations

import argparse
import logging
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "tests" / "connectors"))
sys.path.insert(0, str(HERE))

from fuzzing import (  # noqa: E402
    CONNECTORS,
    Outcome,
    Plan,
    RepollOutcome,
    compression_bomb,
    load_case,
    mutations_for,
    run_case,
    run_repoll_case,
)
from sqlalchemy import create_engine  # noqa: E402

from monitor.kernel.store.engine import Database  # noqa: E402
from monitor.kernel.store.tables import Base  # noqa: E402


class Hung(Exception):
    pass


def _kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        return False
    return True


def verdict(outcome: Outcome, baseline: set[str]) -> str:
    """The worst thing that happened in the case, as one table column."""
    if isinstance(outcome.escaped, Hung):
        return "hung"
    if outcome.escaped is not None:
        return "escaped"
    vias = [r.error_via for r in outcome.results if r.error is not None]
    if "catch_all" in vias:
        return "catch_all"
    if "exception_table" in vias:
        return "exception_table"
    local = outcome.applied is not None and outcome.applied.local_to is not None
    if local and (outcome.results[0].error is not None or baseline - outcome.excluded(baseline) - outcome.stored):
        return "lost_neighbours"
    errors = [r.error for r in outcome.results if r.error is not None]
    if errors:
        return "source_error:" + errors[0].split(":", 1)[0]
    return "ok"


def repoll_verdict(outcome: RepollOutcome, baseline_erased: set[str]) -> str:
    """`verdict` for a re-poll case: the worst thing that happened, as one column."""
    if isinstance(outcome.escaped, Hung):
        return "hung"
    if outcome.escaped is not None or outcome.stats is None:
        return "escaped"
    if outcome.stats.error_via in ("catch_all", "exception_table"):
        return outcome.stats.error_via
    if outcome.wrongly_erased(baseline_erased):
        return "lost_neighbours"
    if outcome.stats.errors:
        return "source_error:" + outcome.stats.errors[0].split(":", 1)[0]
    return "ok"


def _database(url: str | None, workdir: Path, connector: str) -> Database:
    url = url or f"sqlite:///{workdir / f'fuzz-{connector}.db'}"
    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    engine.dispose()
    return Database(url)


def fuzz_connector(connector: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    case = load_case(connector)
    compression_bomb(1), compression_bomb(2)  # the fuzzer's own bytes, built before anything is measured
    db = _database(args.db, workdir, connector)
    if args.repoll:
        clean = run_repoll_case(case, None, db, "baseline")
        if clean.escaped or clean.stats is None or clean.stats.errors:
            raise SystemExit(f"{connector}: the unmutated re-poll fails: {clean.escaped or clean.stats}")
    else:
        baseline = run_case(case, None, db, "baseline")
        if baseline.escaped or any(r.error for r in baseline.results):
            raise SystemExit(f"{connector}: the unmutated poll fails: {baseline.escaped or baseline.results}")
    names = mutations_for(connector, slow=not args.no_slow)
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    growth_mb: list[float] = []
    durations: list[float] = []
    can_measure = _reset_peak()

    def alarm(signum: int, frame: Any) -> None:
        raise Hung(f"case longer than {args.hang_s}s")

    signal.signal(signal.SIGALRM, alarm)
    for index in range(args.cases):
        plan = Plan(names[index % len(names)], args.seed + index, (args.seed + index) % 3)
        if can_measure:
            _reset_peak()
        before = _kb("VmRSS")
        started = time.perf_counter()
        signal.alarm(max(1, int(args.hang_s * 3)))  # a stuck case is cut off; > hang_s already counts as hung
        try:
            if args.repoll:
                outcome: Outcome | RepollOutcome = run_repoll_case(case, plan, db, f"fuzz-{index}")
            else:
                outcome = run_case(case, plan, db, f"fuzz-{index}")
        except Hung as exc:
            outcome = RepollOutcome(plan, escaped=exc) if args.repoll else Outcome(plan, escaped=exc)
        finally:
            signal.alarm(0)
        elapsed = time.perf_counter() - started
        durations.append(elapsed)
        growth_mb.append(max(0, _kb("VmHWM") - before) / 1024 if can_measure else float("nan"))
        if isinstance(outcome, RepollOutcome):
            column = repoll_verdict(outcome, clean.erased)
            detail: Any = outcome.escaped or (outcome.stats.errors if outcome.stats else "")
            if column == "lost_neighbours":
                detail = f"erased {sorted(outcome.wrongly_erased(clean.erased))[:3]}"
        else:
            column = verdict(outcome, baseline.stored)
            detail = outcome.escaped or next((r.error for r in outcome.results if r.error), "")
        column = "hung" if elapsed > args.hang_s else column
        counts[column] += 1
        if not column.startswith(("ok", "source_error")) and len(examples[column]) < args.show:
            examples[column].append(f"{plan}: {str(detail)[:160]}")
        if args.progress and (index + 1) % args.progress == 0:
            print(f"  {connector}: {index + 1}/{args.cases}", file=sys.stderr, flush=True)
    db.dispose()
    return {
        "counts": counts,
        "examples": examples,
        "peak_mb": max(growth_mb, default=0.0),
        "median_ms": statistics.median(durations) * 1000 if durations else 0.0,
        "over_200mb": sum(1 for g in growth_mb if g > 200),
    }


def print_table(
    rows: dict[str, Any], cases: int, *, header: bool = True, examples: bool = True, repoll: bool = False
) -> None:
    title = (
        "| connector | cases | ok | clean SourceError (by kind) | labelled by EXCEPTION_KINDS | catch-all "
        f"| escaped | hung | {'wrongly erased' if repoll else 'lost neighbours'} "
        "| peak RSS growth/case (max) | cases > 200 MB | median ms/case |"
    )
    if header:
        print(title)
        print("|" + "---|" * 12)
    for connector, row in rows.items():
        c: Counter[str] = row["counts"]
        kinds = {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("source_error:")}
        clean = sum(kinds.values())
        by_kind = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        print(
            f"| {connector} | {cases} | {c['ok']} | {clean} ({by_kind}) | {c['exception_table']} "
            f"| {c['catch_all']} "
            f"| {c['escaped']} | {c['hung']} | {c['lost_neighbours']} | {row['peak_mb']:.0f} MB "
            f"| {row['over_200mb']} | {row['median_ms']:.0f} |"
        )
    for connector, row in rows.items() if examples else ():
        for column, lines in row["examples"].items():
            for line in lines:
                print(f"  {connector} {column}: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="cases per connector")
    parser.add_argument("--connectors", default=",".join(CONNECTORS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file per connector)")
    parser.add_argument("--hang-s", type=float, default=10.0)
    parser.add_argument("--no-slow", action="store_true", help="leave out dripping/hanging answers")
    parser.add_argument("--show", type=int, default=3, help="examples printed per bad column")
    parser.add_argument("--progress", type=int, default=0, help="print progress every N cases")
    parser.add_argument("--repoll", action="store_true", help="fuzz the re-poll lookups instead of the polls")
    parser.add_argument("--replay", nargs=2, metavar=("CONNECTOR", "PLAN"), help="run one case, show it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL if not args.replay else logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        if args.replay:
            connector, text = args.replay
            mutation, seed, call = text.split("/")
            plan = Plan(mutation, int(seed.split("=")[1]), int(call.split("=")[1]))
            case = load_case(connector)
            db = _database(args.db, Path(tmp), connector)
            baseline = run_case(case, None, db, "baseline")
            outcome = run_case(case, plan, db, "replay")
            print(verdict(outcome, baseline.stored), outcome.escaped, *(r.error for r in outcome.results))
            print("notes:", *(n for r in outcome.results for n in r.notes), sep="\n  ")
            print("missing:", sorted(baseline.stored - outcome.excluded(baseline.stored) - outcome.stored))
            return
        rows = {}
        connectors = args.connectors.split(",")
        if args.repoll:  # feeds and the App Store have no lookup to re-poll with
            connectors = [c for c in connectors if load_case(c).get("repoll", True)]
        for connector in connectors:
            rows[connector] = fuzz_connector(connector, args, Path(tmp))
            print_table(
                {connector: rows[connector]}, args.cases, header=len(rows) == 1, examples=False, repoll=args.repoll
            )
            sys.stdout.flush()  # one row per connector as it finishes: a long run shows its progress
        print()
        for connector, row in rows.items():
            for column, lines in row["examples"].items():
                for line in lines:
                    print(f"  {connector} {column}: {line}")


if __name__ == "__main__":
    main()
