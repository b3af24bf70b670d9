"""The scale-out shape end to end, against real PostgreSQL and Redis.

Fresh databases for the instance and the DuckLake catalog, ``etl-dagster-home --storage
postgres``, ``dagster-daemon run`` and ``dagster-webserver`` for the project, two
``etl-celery-worker`` processes (the second started after the backfill was launched) and the
demo API. A 4-day backfill launched through GraphQL (as the UI does) must run as overlapping
runs, never more than the queue's limit, whose steps land on both workers and load exactly the
demo API's rows per day; the sensor must summarize every day; re-launching two days must change
nothing else. No password may appear in anything the deployment writes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Collection
from datetime import date, timedelta
from pathlib import Path

import pytest

pytest.importorskip("dagster_celery", reason="the 'scale' extra is not installed")
pytest.importorskip("duckdb_extension_ducklake", reason="the 'scale' extra is not installed")

import dagster as dg

from etl_assets.scale.settings import DuckLakeSettings
from etl_assets.warehouse.ducklake import connect_ducklake
from etl_assets_tests.scale.cluster import VENV_BIN, Cluster, running_cluster
from etl_assets_tests.scale.services import FAKE_PASSWORD

# The whole deployment (PostgreSQL, daemon, webserver, two workers) and a 4-day backfill: ~1-2.5
# min on 2 cores, more under load; a hung deployment still fails within this bound.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

DAYS = [date(2025, 3, 1) + timedelta(days=n) for n in range(4)]
BACKFILL_TIMEOUT_SECONDS = 300.0
SUMMARY_TIMEOUT_SECONDS = 180.0
SENSOR_TABLES = {"mart.daily_sales_summary"}
MAX_RUNS = 3
RETRIES = "warehouse_write_retries"

# Per day and table: the rows and a fingerprint of their content (run-specific columns left out).
FINGERPRINTS = {
    "raw.raw_records": (
        "partition_date",
        "count(*), sum(hash(payload)), count(DISTINCT (_page, _record_index))",
    ),
    "staging.clean_records": (
        "order_date",
        "count(*), count(DISTINCT order_id), sum(hash(order_id))",
    ),
    "staging.rejected_records": ("partition_date", "count(*), sum(hash(payload))"),
    # A sum of doubles moves in its last digits when a rerun inserts the same rows in another
    # order: the total is rounded (it is checked against the demo's), each amount is hashed.
    "mart.sales_table": (
        "order_date",
        "count(*), count(DISTINCT order_id), round(sum(amount), 6), sum(hash(amount))",
    ),
    "mart.daily_sales_summary": ("order_date", "count(*), sum(orders), sum(revenue)"),
}


def lake_of(cluster: Cluster) -> DuckLakeSettings:
    return DuckLakeSettings(
        catalog=cluster.env["ETL_DUCKLAKE_CATALOG"],
        data_path=cluster.env["ETL_DUCKLAKE_DATA_PATH"].rstrip("/") + "/",
    )


def table_state(
    cluster: Cluster, tables: Collection[str] = tuple(FINGERPRINTS)
) -> dict[str, dict[str, tuple]]:
    """Per table, per day: the fingerprint row."""
    state: dict[str, dict[str, tuple]] = {}
    with connect_ducklake(lake_of(cluster), read_only=True) as connection:
        for table in tables:
            day_column, figures = FINGERPRINTS[table]
            rows = connection.execute(
                f"SELECT CAST({day_column} AS VARCHAR), {figures} FROM {table} GROUP BY 1"
            ).fetchall()
            state[table] = {row[0]: tuple(row[1:]) for row in rows}
    return state


def summary_days(cluster: Cluster) -> set[str]:
    with connect_ducklake(lake_of(cluster), read_only=True) as connection:
        try:
            rows = connection.execute(
                "SELECT DISTINCT CAST(order_date AS VARCHAR) FROM mart.daily_sales_summary"
            ).fetchall()
        except Exception:  # not created yet
            return set()
    return {row[0] for row in rows}


def wait_for_summaries(cluster: Cluster, days: list[date], timeout: float) -> None:
    import time

    wanted = {d.isoformat() for d in days}
    deadline = time.monotonic() + timeout
    while not wanted <= summary_days(cluster):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"daily_sales_summary has {sorted(summary_days(cluster))}, wanted"
                f" {sorted(wanted)} within {timeout:.0f} s\n{cluster.logs()}"
            )
        time.sleep(2)


def workers_of(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    """The Celery node names that executed the run's steps, from its event log."""
    names = set()
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        worker = data.metadata.get("Celery worker") if data else None
        if worker is not None:
            names.add(str(worker.value).split("@", 1)[0])
    return names


def overlapping_pairs(records: list) -> int:
    spans = [(r.start_time, r.end_time) for r in records if r.start_time and r.end_time]
    return sum(
        1
        for i, (start, end) in enumerate(spans)
        for other_start, other_end in spans[i + 1 :]
        if start < other_end and other_start < end
    )


def most_at_once(records: list) -> int:
    """The largest number of the runs that were in progress at the same moment."""
    edges = sorted(
        [(r.start_time, 1) for r in records if r.start_time]
        + [(r.end_time, -1) for r in records if r.end_time]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def assert_rows_match_demo_api(cluster: Cluster, state: dict[str, dict[str, tuple]]) -> None:
    for day in DAYS:
        key, truth = day.isoformat(), cluster.api.day(day)
        valid = len(truth.valid_order_ids)
        assert state["raw.raw_records"][key][0] == len(truth.elements), key
        assert state["raw.raw_records"][key][2] == len(truth.elements), key  # no duplicates
        assert state["staging.clean_records"][key][:2] == (valid, valid), key
        assert state["staging.rejected_records"][key][0] == truth.rejected_count, key
        assert state["mart.sales_table"][key][:2] == (valid, valid), key
        assert state["mart.sales_table"][key][2] == pytest.approx(truth.expected_amount_total)
        assert state["mart.daily_sales_summary"][key][1] == valid, key
    for table, per_day in state.items():
        assert set(per_day) == {d.isoformat() for d in DAYS}, f"{table}: {sorted(per_day)}"


def assert_no_password_written(cluster: Cluster) -> None:
    for path in Path(cluster.workdir).rglob("*"):
        if path.is_file() and path.suffix != ".parquet":
            assert FAKE_PASSWORD not in path.read_text(errors="replace"), path


def etl_query_csv(cluster: Cluster, sql: str) -> bytes:
    """``etl-query --csv`` as an analyst runs it, with the deployment's environment."""
    done = subprocess.run(
        [str(VENV_BIN / "etl-query"), "--csv", sql],
        env=cluster.env, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def test_backfill_runs_on_two_celery_workers_into_ducklake(tmp_path: Path) -> None:
    with running_cluster(tmp_path, workers=("w1",), max_runs=MAX_RUNS) as cluster:
        backfill = cluster.launch_backfill(DAYS)
        cluster.start_worker("w2")  # added while the backfill waits: it takes a share
        records = cluster.wait_for_backfill(backfill, len(DAYS), BACKFILL_TIMEOUT_SECONDS)
        instance = cluster.instance()

        statuses = [r.dagster_run.status for r in records]
        assert statuses == [dg.DagsterRunStatus.SUCCESS] * len(DAYS), cluster.logs()
        assert overlapping_pairs(records) >= 1, "the backfill's runs never ran side by side"
        assert most_at_once(records) <= MAX_RUNS  # the run queue's limit holds
        workers = set().union(*(workers_of(instance, r.dagster_run.run_id) for r in records))
        assert workers == {"w1", "w2"}, workers
        # The sensor's table may not exist yet: its runs start after the backfill's.
        loaded = table_state(cluster, [t for t in FINGERPRINTS if t not in SENSOR_TABLES])

        # Two days again, while the sensor summarizes the first load: nothing else changes.
        again = cluster.launch_backfill(DAYS[1:3])
        rerun = cluster.wait_for_backfill(again, 2, BACKFILL_TIMEOUT_SECONDS)
        assert [r.dagster_run.status for r in rerun] == [dg.DagsterRunStatus.SUCCESS] * 2
        wait_for_summaries(cluster, DAYS, SUMMARY_TIMEOUT_SECONDS)
        state = table_state(cluster)
        assert {t: v for t, v in state.items() if t not in SENSOR_TABLES} == loaded
        assert_rows_match_demo_api(cluster, state)

        total = sum(len(cluster.api.day(d).valid_order_ids) for d in DAYS)
        csv_text = etl_query_csv(cluster, "select count(*) as orders from mart.sales_table")
        assert csv_text == f"orders\r\n{total}\r\n".encode()

        # Retries of DuckLake conflicts are reported per output (zero or more), and no
        # password is in any event of any run.
        retries = []
        for record in [*records, *rerun]:
            for entry in instance.all_logs(record.dagster_run.run_id):
                assert FAKE_PASSWORD not in dg.serialize_value(entry)
                if entry.asset_materialization is not None:
                    retries.append(entry.asset_materialization.metadata.get(RETRIES))
        assert retries and all(isinstance(r.value, int) for r in retries)
    assert_no_password_written(cluster)
