"""The single place that wires assets, checks, jobs, schedules, sensors and resources."""

import os
from pathlib import Path

import dagster as dg

from etl_assets.alerts import webhook_url
from etl_assets.assets import sales_assets
from etl_assets.checks import column_schema_checks
from etl_assets.jobs import daily_sales_job, daily_sales_summary_job
from etl_assets.resources import TOKEN_VARIABLE, URL_VARIABLE, SalesApiResource
from etl_assets.scale.settings import (
    CATALOG_VARIABLE,
    backfill_days_per_run,
    ducklake_settings,
    validate_deployment,
)
from etl_assets.schedules import build_daily_schedule
from etl_assets.sensors import run_failure_alert_sensor, sales_summary_sensor
from etl_assets.settings import (
    CRON_VARIABLE,
    DUCKDB_PATH_VARIABLE,
    duckdb_path,
    executor_name,
    schedule_cron,
    schedule_lookback_days,
    schedule_timezone,
)
from etl_assets.warehouse import WarehouseIOManager


def _optional_env(name: str) -> dg.EnvVar | None:
    """An EnvVar only when set, so an unset optional secret means "none", not an error."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_executor(name: str) -> dg.ExecutorDefinition:
    """The executor every job of the project runs with (``ETL_EXECUTOR``, see settings)."""
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "celery":
        from etl_assets.scale.celery import celery_executor_definition

        return celery_executor_definition()
    return dg.in_process_executor


def build_io_manager(warehouse: str) -> WarehouseIOManager:
    """The warehouse IO manager: a local DuckDB file, or DuckLake (``ETL_WAREHOUSE``)."""
    if warehouse == "ducklake":
        lake = ducklake_settings()  # validated now; the resource reads the variables at run time
        return WarehouseIOManager(
            database=lake.data_path,
            warehouse="ducklake",
            ducklake_catalog=dg.EnvVar(CATALOG_VARIABLE),
            ducklake_data_path=lake.data_path,
        )
    warehouse_path = duckdb_path()
    if os.environ.get(DUCKDB_PATH_VARIABLE):
        Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    return WarehouseIOManager(database=str(warehouse_path))


def backfill_policy(executor: str) -> dg.BackfillPolicy:
    """How a backfill becomes runs. On one machine: ONE run over all its days (one process, one
    writer, no lock contention; each day is still extracted and cleaned alone). With Celery: runs
    of ETL_BACKFILL_DAYS_PER_RUN days that the queue runs side by side."""
    if executor == "celery":
        return dg.BackfillPolicy.multi_run(backfill_days_per_run())
    return dg.BackfillPolicy.single_run()


def daily_schedule() -> dg.ScheduleDefinition:
    """``daily_sales_schedule`` as the environment sets it; a cron Dagster refuses fails naming
    ``ETL_SCHEDULE_CRON``."""
    cron, timezone = schedule_cron(), schedule_timezone()
    try:
        return build_daily_schedule(cron, timezone, schedule_lookback_days())
    except dg.DagsterInvalidDefinitionError as error:
        raise ValueError(
            f"{CRON_VARIABLE}={cron!r} is not a cron schedule: give five fields such as "
            f"'15 0 * * *' (Dagster said: {error})"
        ) from None


def build_definitions() -> dg.Definitions:
    webhook_url()  # a malformed alert webhook fails now, not at the first failed run
    executor_kind = executor_name()
    warehouse = validate_deployment(executor_kind)
    io_manager = build_io_manager(warehouse)
    policy = backfill_policy(executor_kind)
    assets = [a.with_attributes(backfill_policy=policy) for a in sales_assets]
    checks = column_schema_checks(sales_assets)
    executor = build_executor(executor_kind)
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[daily_sales_job, daily_sales_summary_job],
        schedules=[daily_schedule()],
        sensors=[sales_summary_sensor, run_failure_alert_sensor],
        executor=executor,
        resources={
            "sales_api": SalesApiResource(
                base_url=dg.EnvVar(URL_VARIABLE), token=_optional_env(TOKEN_VARIABLE)
            ),
            "io_manager": io_manager,
        },
    )


defs = build_definitions()
