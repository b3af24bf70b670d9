"""Run the heavy reliability scenarios and print their figures as a Markdown table.

    .venv/bin/python -m etl_assets_tests.reliability.report            # everything, ~6-9 min
    .venv/bin/python -m etl_assets_tests.reliability.report --quick    # the light sizes, ~1 min
    .venv/bin/python -m etl_assets_tests.reliability.report --only crash

Exit status 1 when any scenario broke its promise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from etl_assets.assets import EXTRACT_RETRY_POLICY
from etl_assets.resources import SalesApiResource
from etl_assets.sources.sales_api import RetrySettings
from etl_assets_tests.reliability import (
    scenarios_api,
    scenarios_drift,
    scenarios_process,
    scenarios_retries,
)
from etl_assets_tests.reliability.bounds import (
    client_attempt_bound,
    dagster_delays_bound,
    failing_api_bound,
)
from etl_assets_tests.reliability.properties import check_cleaning_invariant
from etl_assets_tests.reliability.support import TABLES, ScenarioRow

Scenario = tuple[str, Callable[[Path], ScenarioRow]]
LOG_NAME = "etl-reliability-report.log"


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send file descriptor 2 (Dagster's console logs, tracebacks) to ``path`` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("wb") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _hypothesis(examples: int) -> Callable[[Path], ScenarioRow]:
    def run(_workdir: Path) -> ScenarioRow:
        row = ScenarioRow(
            "bad input: arbitrary JSON through cleaning", f"{examples} generated days"
        )
        started = time.monotonic()
        try:
            check_cleaning_invariant(examples)
        except Exception as error:  # the falsifying example is in the log
            row.problems.append(f"{type(error).__name__}: {error}"[:300])
        row.seconds = time.monotonic() - started
        return row

    return run


def scenarios(quick: bool) -> list[Scenario]:
    soak_orders, crash_orders, concurrent_orders = (
        (3_000, 150, 200) if quick else (50_000, 2_000, 5_000)
    )
    found: list[Scenario] = [
        ("soak", lambda d: scenarios_api.flaky_soak(d, orders=soak_orders)),
        ("failure", lambda d: scenarios_api.permanent_failure(d, kind="503")),
        ("failure", lambda d: scenarios_api.permanent_failure(d, kind="refused")),
    ]
    if not quick:
        found.append(
            ("failure", lambda d: scenarios_api.permanent_failure(d, kind="503", defaults=True))
        )
    found += [
        ("trap", lambda d, t=t: scenarios_api.pagination_trap(d, t)) for t in scenarios_api.TRAPS
    ]
    found += [
        ("crash", lambda d, t=t: scenarios_process.crash_during_write(d, t, orders=crash_orders))
        for t in TABLES
    ]
    found += [
        (
            "concurrency",
            lambda d: scenarios_process.concurrent_partitions(d, orders=concurrent_orders),
        ),
        ("concurrency", lambda d: scenarios_process.reader_holds_lock(d)),
    ]
    found += [
        ("drift", lambda d, k=k: scenarios_drift.schema_drift(d, k)) for k in scenarios_drift.DRIFTS
    ]
    found += [
        ("retry", lambda d, c=c: scenarios_retries.dagster_retry(d, c))
        for c in scenarios_retries.OUTCOMES
    ]
    found.append(("input", _hypothesis(200 if quick else 2_000)))
    return found


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|")


def table(rows: list[ScenarioRow]) -> str:
    lines = [
        "| scenario | faults injected | expected / loaded | duplicates | lost | outcome | time |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        figures = "" if row.expected is None else f"{row.expected:,} / {row.loaded:,}"
        lines.append(
            f"| {_cell(row.scenario)} | {_cell(row.faults)} | {figures} | {_cell(row.duplicates)} "
            f"| {_cell(row.lost)} | {_cell(row.outcome)} | {row.seconds:.1f} s |"
        )
    return "\n".join(lines)


def bound_text() -> str:
    resource = SalesApiResource(base_url="http://127.0.0.1:1")
    settings = RetrySettings(
        max_attempts=resource.max_attempts, total_seconds=resource.retry_budget_seconds
    )
    return (
        "Worst case for a permanently failing API with the defaults: "
        f"(max_retries + 1) x min(retry_budget + connect + read timeouts, "
        f"attempts x timeouts + waits) + Dagster delays = {EXTRACT_RETRY_POLICY.max_retries + 1} x "
        f"{client_attempt_bound(resource, settings):.0f} s + "
        f"{dagster_delays_bound(EXTRACT_RETRY_POLICY):.0f} s = "
        f"{failing_api_bound(resource, EXTRACT_RETRY_POLICY):.0f} s."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_assets_tests.reliability.report")
    parser.add_argument("--quick", action="store_true", help="light sizes (about a minute)")
    parser.add_argument("--only", default="", help="run scenarios whose group contains this")
    args = parser.parse_args(argv)
    rows: list[ScenarioRow] = []
    log_path = Path(tempfile.gettempdir()) / LOG_NAME
    print(f"Dagster's logs go to {log_path}", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="etl-reliability-") as root,
        _stderr_to(log_path),
    ):
        for number, (group, scenario) in enumerate(scenarios(args.quick)):
            if args.only not in group:
                continue
            workdir = Path(root) / f"s{number:02d}"
            workdir.mkdir()
            try:
                row = scenario(workdir)
            except Exception as error:  # a crashed scenario is a failed one, not a crashed report
                row = ScenarioRow(group, "", problems=[f"{type(error).__name__}: {error}"[:300]])
                traceback.print_exc()
            rows.append(row)
            notes = f" ({'; '.join(row.notes)})" if row.notes else ""
            print(f"{row.scenario}: {row.outcome} in {row.seconds:.1f} s{notes}", flush=True)
    print()
    print(table(rows))
    print()
    print(bound_text())
    return 0 if all(not row.problems for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
