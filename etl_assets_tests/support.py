"""Helpers shared by the test modules: one per concern."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import duckdb
import pytest

from etl_assets.schema import ALL_TABLES, DAILY_SALES_SUMMARY

#: Every table of the pipeline, with the column holding a row's UTC day.
DAY_COLUMNS = {table.qualified_name: table.partition_column for table in ALL_TABLES}
#: The tables up to sales_table (a run of ``daily_sales_job`` writes them; not the summary).
PARTITION_COLUMNS = {
    name: column
    for name, column in DAY_COLUMNS.items()
    if name != DAILY_SALES_SUMMARY.qualified_name
}


def materialize_day(
    defs: dg.Definitions,
    day: str,
    *,
    selection: object = "raw_records*",
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    with_checks: bool = False,
) -> dg.ExecuteInProcessResult:
    """Materialize ``selection`` of the project's definitions for one day, in this process;
    ``with_checks`` adds the checks defined apart from the assets (``column_schema_change``)."""
    checks = list(defs.asset_checks or []) if with_checks else []
    return dg.materialize(
        [*(defs.assets or []), *checks],
        resources=defs.resources,
        selection=selection,  # type: ignore[arg-type]
        partition_key=day,
        instance=instance,
        raise_on_error=raise_on_error,
    )


def cli_materialize(
    partitions: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``dagster asset materialize -m etl_assets --select 'raw_records*'`` plus ``partitions``
    (``--partition D`` or ``--partition-range A...B``), as a user runs it; asserts it exits 0."""
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "etl_assets"]
    completed = subprocess.run(
        [*command, "--select", "raw_records*", *partitions],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def query(path: Path | str, sql: str, *params: object) -> list[tuple]:
    """Rows of ``sql`` on the DuckDB file, through a read-only connection closed before return."""
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def day_counts(
    path: Path | str, tables: Mapping[str, str] = PARTITION_COLUMNS
) -> dict[str, list[tuple]]:
    """Each table's ``(day, rows)`` pairs, days as ``YYYY-MM-DD``: equal counts, equal days."""
    return {
        table: query(
            path, f"SELECT CAST({column} AS VARCHAR), count(*) FROM {table} GROUP BY 1 ORDER BY 1"
        )
        for table, column in tables.items()
    }


class _RecordingTime:
    """The ``time`` module, except that ``sleep`` also records how long it was asked to sleep."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def record_sleeps(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[float]:
    """The waits ``module`` makes through ``time.sleep``, in order, for the rest of the test.

    The waits still happen (deadlines read the real clock); a test asserts on what was waited,
    not on wall-clock time, which a loaded machine stretches.
    """
    recording = _RecordingTime()
    monkeypatch.setattr(module, "time", recording)
    return recording.waits
