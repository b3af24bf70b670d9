"""kill -9 in the middle of each write, concurrent writers, and a process holding the file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.definitions import build_definitions
from etl_assets.jobs import daily_sales_job
from etl_assets_tests.reliability import scenarios_process
from etl_assets_tests.reliability.support import TABLES

LIGHT_CRASH_TABLE = "staging.clean_records"
JOB = daily_sales_job.name


@pytest.mark.parametrize(
    "table",
    [
        pytest.param(t, marks=[] if t == LIGHT_CRASH_TABLE else [pytest.mark.reliability])
        for t in TABLES
    ],
)
def test_kill_9_before_commit_keeps_old_or_new_rows_and_a_rerun_completes(
    tmp_path: Path, table: str
) -> None:
    heavy = table != LIGHT_CRASH_TABLE
    row = scenarios_process.crash_during_write(tmp_path, table, orders=150, other_day=heavy)
    assert row.problems == []


def test_two_processes_load_two_partitions_into_one_file(tmp_path: Path) -> None:
    row = scenarios_process.concurrent_partitions(tmp_path, orders=200)
    assert row.problems == []


def test_a_process_holding_the_file_makes_the_run_fail_after_the_lock_timeout_naming_it(
    tmp_path: Path,
) -> None:
    row = scenarios_process.reader_holds_lock(tmp_path, lock_timeout_seconds=1.0)
    assert row.problems == [], row.notes


@pytest.mark.reliability
@pytest.mark.timeout(300)
def test_a_run_that_ended_holding_a_pool_slot_gives_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reviewers' deadlock: a run whose Celery submission failed ended with its step's slot
    of the pool still claimed, and every later run waited for it. With the project's instance
    settings the daemon frees it (60 s after the run's end, checked every 30 s)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    template = resources.files("etl_assets") / "instance" / "dagster.yaml"
    (home / "dagster.yaml").write_text(template.read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "SALES_API_URL": "http://127.0.0.1:9",
        "ETL_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
    }
    for name in ("SALES_API_URL", "ETL_DUCKDB_PATH"):
        monkeypatch.setenv(name, env[name])  # the run's config, as the daemon resolves it
    with (tmp_path / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-m", "etl_assets"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            run = instance.create_run_for_job(build_definitions().resolve_job_def(JOB))
            storage = instance.event_log_storage
            storage.claim_concurrency_slot("duckdb_warehouse", run.run_id, "raw_records")
            instance.report_run_failed(run)
            assert run.run_id in storage.get_concurrency_run_ids()
            deadline = time.monotonic() + 200
            while run.run_id in storage.get_concurrency_run_ids():
                assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-2000:]
                time.sleep(5)
            assert storage.get_concurrency_info("duckdb_warehouse").claimed_slots == []
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
