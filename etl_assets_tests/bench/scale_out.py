"""The scale-out row of the benchmark: one backfill through Celery on one worker, then on two.

    .venv-scale/bin/python -m etl_assets_tests.bench.scale_out [--days 8] [--orders 2000]

Each side is the deployment of docs/scale-out.md started afresh (PostgreSQL instance and DuckLake
catalog, Redis broker, daemon, webserver, workers with --concurrency 1, the demo API), with
ETL_MAX_CONCURRENT_RUNS=4. The backfill is launched through GraphQL; the time is from the first
run's start to the last run's end (the backfill daemon's first pass, up to 30 s, is left out).
Per-run overhead: a run's duration minus the time its steps spent computing.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from etl_assets_tests.scale.cluster import running_cluster

FIRST_DAY = date(2025, 7, 1)
MAX_RUNS = 4
TIMEOUT_SECONDS = 900.0


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> float:
    """Seconds the run's steps spent between STEP_START and their end."""
    starts: dict[str, float] = {}
    total = 0.0
    for entry in instance.all_logs(run_id):
        kind = entry.dagster_event_type
        if kind == dg.DagsterEventType.STEP_START:
            starts[str(entry.step_key)] = entry.timestamp
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            total += entry.timestamp - starts.pop(str(entry.step_key), entry.timestamp)
    return total


def measure(workers: tuple[str, ...], days: int, orders: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="etl-bench-scale-") as workdir,
        running_cluster(
            Path(workdir), workers=workers, orders_per_day=orders, max_runs=MAX_RUNS
        ) as cluster,
    ):
        wanted = [FIRST_DAY + timedelta(days=n) for n in range(days)]
        backfill = cluster.launch_backfill(wanted)
        records = cluster.wait_for_backfill(backfill, days, TIMEOUT_SECONDS)
        failed = [r for r in records if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
        if failed:
            raise SystemExit(f"{len(failed)} run(s) failed\n{cluster.logs()}")
        instance = cluster.instance()
        span = max(r.end_time for r in records) - min(r.start_time for r in records)
        durations = [r.end_time - r.start_time for r in records]
        computing = [step_seconds(instance, r.dagster_run.run_id) for r in records]
    return {
        "seconds": span,
        "days_per_minute": days / span * 60,
        "run_seconds": sum(durations) / len(durations),
        "overhead_seconds": (sum(durations) - sum(computing)) / len(durations),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_assets_tests.bench.scale_out")
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--orders", type=int, default=2000, help="orders per day")
    args = parser.parse_args(argv)
    rows = [
        (label, measure(workers, args.days, args.orders))
        for label, workers in (("1 worker", ("w1",)), ("2 workers", ("w1", "w2")))
    ]
    print(f"\n{args.days}-day backfill, {args.orders} orders/day, Celery, DuckLake, "
          f"max {MAX_RUNS} runs at once\n")  # fmt: skip
    print("| workers | backfill (first start → last end) | days per minute "
          "| mean run | per-run overhead |")  # fmt: skip
    print("|---|---|---|---|---|")
    for label, figures in rows:
        print(
            f"| {label} | {figures['seconds']:.1f} s | {figures['days_per_minute']:.1f} "
            f"| {figures['run_seconds']:.1f} s | {figures['overhead_seconds']:.1f} s |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
