"""kill -9 in the middle of each write, concurrent writers, and a process holding the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_assets_tests.reliability import scenarios_process
from etl_assets_tests.reliability.support import TABLES

LIGHT_CRASH_TABLE = "staging.clean_records"


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
