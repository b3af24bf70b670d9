"""Shared helpers of the reliability scenarios: resources, runs, table snapshots, secret scans.

Every scenario runs the real asset graph (``etl_assets.assets.sales_assets``) with real resources
against a real HTTP server and a real DuckDB file; only sizes, timeouts and retry bounds are
shrunk through the resources' own configuration.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from etl_assets.assets import EXTRACT_RETRY_POLICY, raw_records, sales_assets
from etl_assets.demo.orders import DayOrders
from etl_assets.resources import TOKEN_VARIABLE, SalesApiResource
from etl_assets.warehouse import WarehouseIOManager
from etl_assets_tests.support import PARTITION_COLUMNS

TOKEN = "sk-live-rel-5e0b-SECRET-token"
DAY = date(2026, 11, 20)
OTHER_DAY = date(2026, 11, 19)
#: Table -> the column holding its partition's day.
TABLES = PARTITION_COLUMNS
#: Columns that differ between two correct loads of the same data (run, clock, server port).
VOLATILE_COLUMNS = frozenset({"_run_id", "_loaded_at", "_extracted_at", "_page_url"})
#: A Dagster retry policy with the production shape but a short delay, for fast tests.
SHORT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=EXTRACT_RETRY_POLICY.max_retries,
    delay=0.2,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


OUTCOME_CHARS = 200  # of each problem in a report cell (the end of a traceback says most)


@dataclass
class ScenarioRow:
    """One line of the reliability report; ``problems`` empty means the promise held."""

    scenario: str
    faults: str
    expected: int | None = None
    loaded: int | None = None
    duplicates: int | None = None
    lost: int | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        short = [" ".join(p.split())[-OUTCOME_CHARS:] for p in self.problems]
        return "PASS" if not self.problems else "FAIL: " + "; ".join(short)


# --------------------------------------------------------------------------------------------
# Resources and runs
# --------------------------------------------------------------------------------------------


@contextmanager
def token_in_env(token: str = TOKEN) -> Iterator[str]:
    """SALES_API_TOKEN set for the block, as a deployment would set it; restored afterwards."""
    before = os.environ.get(TOKEN_VARIABLE)
    os.environ[TOKEN_VARIABLE] = token
    try:
        yield token
    finally:
        if before is None:
            os.environ.pop(TOKEN_VARIABLE, None)
        else:
            os.environ[TOKEN_VARIABLE] = before


def api_resource(url: str, **config: Any) -> SalesApiResource:
    """The production resource (token through ``dg.EnvVar``) with some settings overridden."""
    return SalesApiResource(base_url=url, token=dg.EnvVar(TOKEN_VARIABLE), **config)


def with_retry_policy(asset: dg.AssetsDefinition, policy: dg.RetryPolicy) -> dg.AssetsDefinition:
    """A copy of ``asset`` whose op has ``policy``; everything else is the same definition.

    ``AssetsDefinition.with_attributes`` cannot replace a retry policy in Dagster 1.13, so this
    copies the op (a private attribute) and rebuilds the definition from its own attributes.
    """
    op = copy.copy(asset.op)
    op._retry_policy = policy
    attributes = {**asset.get_attributes_dict(), "node_def": op}
    return dg.AssetsDefinition.dagster_internal_init(**attributes)


def pipeline_assets(extract_policy: dg.RetryPolicy | None = None) -> list[dg.AssetsDefinition]:
    """The production asset graph, optionally with another retry policy on raw_records."""
    if extract_policy is None:
        return list(sales_assets)
    return [with_retry_policy(a, extract_policy) if a is raw_records else a for a in sales_assets]


@dataclass
class RunOutcome:
    result: dg.ExecuteInProcessResult
    seconds: float

    @property
    def success(self) -> bool:
        return self.result.success

    def failure_messages(self) -> list[str]:
        messages = []
        for event in self.result.all_events:
            if event.is_step_failure and event.step_failure_data.error is not None:
                messages.append(event.step_failure_data.error.to_string())
        return messages

    def step_attempts(self, step: str = "raw_records") -> int:
        """How many times ``step`` ran: 1 + the retries Dagster's RetryPolicy started."""
        retries = sum(
            1
            for event in self.result.all_events
            if event.step_key == step and event.event_type_value == "STEP_UP_FOR_RETRY"
        )
        return 1 + retries

    def metadata(self, asset: str) -> dict[str, Any]:
        for event in self.result.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            if materialization.asset_key == dg.AssetKey(asset):
                return {k: v.value for k, v in materialization.metadata.items()}
        return {}


def run_pipeline(
    day: date,
    *,
    api: SalesApiResource,
    warehouse: Path,
    instance: dg.DagsterInstance,
    assets: Sequence[dg.AssetsDefinition] | None = None,
    lock_timeout_seconds: float | None = None,
) -> RunOutcome:
    """Materialize ``raw_records*`` for one day, never raising on a failed step."""
    io_config = (
        {} if lock_timeout_seconds is None else {"lock_timeout_seconds": lock_timeout_seconds}
    )
    started = time.monotonic()
    result = dg.materialize(
        list(assets if assets is not None else sales_assets),
        resources={
            "sales_api": api,
            "io_manager": WarehouseIOManager(database=str(warehouse), **io_config),
        },
        selection="raw_records*",
        partition_key=day.isoformat(),
        instance=instance,
        raise_on_error=False,
    )
    return RunOutcome(result, time.monotonic() - started)


# --------------------------------------------------------------------------------------------
# The warehouse
# --------------------------------------------------------------------------------------------


def table_rows(path: Path, table: str, day: date) -> list[tuple[Any, ...]]:
    """The rows of ``table`` for ``day`` without volatile columns, sorted (comparable)."""
    if not path.exists():
        return []
    with duckdb.connect(str(path), read_only=True) as conn:
        schema, name = table.split(".")
        found = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
        columns = [c for (c,) in found if c not in VOLATILE_COLUMNS]
        if not columns:
            return []
        select = ", ".join(f'"{c}"' for c in columns)
        rows = conn.execute(
            f"SELECT {select} FROM {table} WHERE CAST({TABLES[table]} AS DATE) = ?", [day]
        ).fetchall()
    return sorted(rows, key=repr)


def snapshot(path: Path, days: Sequence[date] = (DAY, OTHER_DAY)) -> dict[str, list[Any]]:
    """Every table's rows of ``days`` (volatile columns dropped): equal snapshots, equal data."""
    return {f"{table} {day}": table_rows(path, table, day) for table in TABLES for day in days}


@dataclass(frozen=True)
class LoadFigures:
    expected: int
    loaded: int
    duplicates: int
    lost: int
    problems: list[str]


def compare_with_truth(path: Path, truth: DayOrders) -> LoadFigures:
    """The day's mart rows against the server's truth: ids, amounts, values, rejects."""
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT order_id, customer_id, product, quantity, unit_price, currency, status, "
            "region, ordered_at, updated_at, amount FROM mart.sales_table WHERE order_date = ?",
            [truth.day],
        ).fetchall()
        (rejected,) = conn.execute(
            "SELECT count(*) FROM staging.rejected_records WHERE partition_date = ?", [truth.day]
        ).fetchone() or (0,)
        (raw,) = conn.execute(
            "SELECT count(*) FROM raw.raw_records WHERE partition_date = ?", [truth.day]
        ).fetchone() or (0,)
    ids = [row[0] for row in rows]
    loaded = set(ids)
    duplicates = len(ids) - len(loaded)
    lost = len(truth.valid_order_ids - loaded)
    problems = []
    if loaded - truth.valid_order_ids:
        problems.append(f"{len(loaded - truth.valid_order_ids)} order ids not in the truth")
    if raw != len(truth.elements):
        problems.append(f"raw holds {raw} elements, the server served {len(truth.elements)}")
    if rejected != truth.rejected_count:
        problems.append(f"{rejected} rejected rows, expected {truth.rejected_count}")
    total = sum(row[10] for row in rows if row[10] is not None)
    if not math.isclose(total, truth.expected_amount_total, rel_tol=1e-9, abs_tol=0.005):
        problems.append(f"amount total {total:.2f} != {truth.expected_amount_total:.2f}")
    keys = ("customer_id", "product", "quantity", "unit_price", "currency", "status", "region")
    differing = 0
    for row in rows:
        expected = truth.expected_records.get(row[0])
        if expected is None:
            continue
        served = dict(zip(keys, row[1:8], strict=True))
        if any(served[k] != expected[k] for k in keys) or (
            row[8] != expected["timestamp"] or row[9] != expected["updated_at"]
        ):
            differing += 1
    if differing:
        problems.append(f"{differing} rows differ from the expected clean values")
    if duplicates or lost:
        problems.append(f"{duplicates} duplicated and {lost} lost orders")
    return LoadFigures(len(truth.valid_order_ids), len(loaded), duplicates, lost, problems)


# --------------------------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------------------------


def files_containing(folder: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def warehouse_cells_containing(path: Path, secret: str) -> list[str]:
    if not path.exists():
        return []
    hits = []
    with duckdb.connect(str(path), read_only=True) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            (count,) = conn.execute(
                f'SELECT count(*) FROM "{schema}"."{table}" WHERE contains("{column}", ?)',
                [secret],
            ).fetchone() or (0,)
            if count:
                hits.append(f"{schema}.{table}.{column}")
    return hits


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(record.getMessage())
        except Exception:  # a broken log call must not break the scenario
            self.lines.append(str(record.msg))


@contextmanager
def collected_logs() -> Iterator[list[str]]:
    """Every Python log line emitted in this process during the block (Dagster's included)."""
    handler = _Collect()
    loggers = [logging.getLogger(), logging.getLogger("dagster")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def secret_leaks(
    secret: str,
    *,
    instance: dg.DagsterInstance,
    instance_dir: Path,
    warehouse: Path,
    runs: Sequence[RunOutcome] = (),
    texts: Sequence[str] = (),
) -> list[str]:
    """Where ``secret`` appears: logs, event log, run config, metadata, errors, files, tables."""
    leaks = []
    for run in runs:
        run_id = run.result.run_id
        record = instance.get_run_by_id(run_id)
        if record is not None and secret in repr(record.run_config):
            leaks.append(f"run config of {run_id}")
        if any(secret in str(entry) for entry in instance.all_logs(run_id)):
            leaks.append(f"event log of {run_id}")  # messages, metadata and errors
        if any(secret in message for message in run.failure_messages()):
            leaks.append(f"failure message of {run_id}")
    leaks += [f"file {p}" for p in files_containing(instance_dir, secret)]
    leaks += [f"warehouse {c}" for c in warehouse_cells_containing(warehouse, secret)]
    leaks += [f"output {t[:80]!r}" for t in texts if secret in t]
    return leaks
