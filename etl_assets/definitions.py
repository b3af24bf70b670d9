"""The single place that wires assets, checks, jobs, schedules, sensors and resources."""

import os
import warnings
from pathlib import Path

import dagster as dg

from etl_assets.assets import sales_assets
from etl_assets.checks import built_in_checks
from etl_assets.jobs import daily_sales_job, daily_sales_summary_job
from etl_assets.resources import TOKEN_VARIABLE, URL_VARIABLE, SalesApiResource
from etl_assets.schedules import (
    CRON_VARIABLE,
    DEFAULT_CRON,
    DEFAULT_TIMEZONE,
    TIMEZONE_VARIABLE,
    build_daily_schedule,
)
from etl_assets.sensors import run_failure_alert_sensor, sales_summary_sensor
from etl_assets.settings import (
    DUCKDB_PATH_VARIABLE,
    duckdb_path,
    executor_name,
    schedule_lookback_days,
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
        raise ValueError("ETL_EXECUTOR=celery is not available in this version")
    return dg.in_process_executor


def build_definitions() -> dg.Definitions:
    warehouse_path = duckdb_path()
    if os.environ.get(DUCKDB_PATH_VARIABLE):
        Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # code references are beta in Dagster 1.13; they work
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = dg.with_source_code_references(sales_assets)
    checks = built_in_checks(sales_assets)
    executor = build_executor(executor_name())
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[daily_sales_job, daily_sales_summary_job],
        schedules=[
            build_daily_schedule(
                cron=os.environ.get(CRON_VARIABLE) or DEFAULT_CRON,
                timezone=os.environ.get(TIMEZONE_VARIABLE) or DEFAULT_TIMEZONE,
                lookback_days=schedule_lookback_days(),
            )
        ],
        sensors=[sales_summary_sensor, run_failure_alert_sensor],
        executor=executor,
        resources={
            "sales_api": SalesApiResource(
                base_url=dg.EnvVar(URL_VARIABLE), token=_optional_env(TOKEN_VARIABLE)
            ),
            "io_manager": WarehouseIOManager(database=str(warehouse_path)),
        },
    )


defs = build_definitions()
