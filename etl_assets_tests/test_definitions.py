"""A snapshot of the whole graph: an accidental lineage, partition or automation change fails."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.definitions import build_definitions

DAILY = "Daily, starting 2025-01-01 UTC."
SALES_FRESHNESS = (
    "CronFreshnessPolicy(deadline_cron='0 2 * * *', serializable_lower_bound_delta="
    "SerializableTimeDelta(days=0, seconds=7200, microseconds=0), timezone='UTC')"
)
COMMON = {
    "group": "sales",
    "owners": ["team:data-engineering"],
    "partitions": DAILY,
    "pools": ["duckdb_warehouse"],
}
CLEAN_CHECKS = [
    "column_schema_change",
    "ordered_at_inside_partition",
    "quantity_at_least_one",
    "rejected_share_below_threshold",
    "required_fields_present",
    "served_reconciles",
    "unique_order_id",
    "unit_price_not_negative",
]
EXPECTED_ASSETS = {
    "raw_records": {
        **COMMON,
        "deps": [],
        "kinds": ["duckdb", "python"],
        "checks": ["column_schema_change", "source_schema_drift"],
        "table": "raw.raw_records",
        "freshness": None,
    },
    "clean_records": {
        **COMMON,
        "deps": ["raw_records"],
        "kinds": ["duckdb", "pandas"],
        "checks": CLEAN_CHECKS,
        "table": "staging.clean_records",
        "freshness": None,
    },
    "rejected_records": {
        **COMMON,
        "deps": ["raw_records"],
        "kinds": ["duckdb", "pandas"],
        "checks": ["column_schema_change"],
        "table": "staging.rejected_records",
        "freshness": None,
    },
    "sales_table": {
        **COMMON,
        "deps": ["clean_records"],
        "kinds": ["duckdb", "sql"],
        "checks": ["column_schema_change"],
        "table": "mart.sales_table",
        "freshness": SALES_FRESHNESS,
    },
    "daily_sales_summary": {
        **COMMON,
        "deps": ["rejected_records", "sales_table"],
        "kinds": ["duckdb", "sql"],
        "checks": ["column_schema_change"],
        "table": "mart.daily_sales_summary",
        "freshness": None,
    },
}
BLOCKING = {f"clean_records:{name}" for name in CLEAN_CHECKS} - {
    "clean_records:column_schema_change",
    "clean_records:rejected_share_below_threshold",
}


@pytest.fixture
def defs(pipeline_env: Path) -> dg.Definitions:
    return build_definitions()


def test_asset_graph_snapshot(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    actual = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        actual[key.to_user_string()] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "group": node.group_name,
            "owners": list(node.owners),
            "kinds": sorted(node.kinds),
            "partitions": str(node.partitions_def),
            "pools": sorted(node.pools or []),
            "checks": sorted(check.name for check in node.check_keys),
            "table": node.metadata["dagster/table_name"],
            "freshness": str(node.freshness_policy) if node.freshness_policy else None,
        }
    assert actual == EXPECTED_ASSETS


def test_blocking_checks_snapshot(defs: dg.Definitions) -> None:
    specs = [
        spec
        for assets_def in defs.resolve_asset_graph().assets_defs
        for spec in assets_def.check_specs
    ]
    blocking = {spec.key.to_user_string() for spec in specs if spec.blocking}
    assert blocking == BLOCKING


def test_every_asset_documents_itself_and_its_columns(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        schema = node.metadata["dagster/column_schema"]
        assert all(column.description for column in schema.columns), key


def test_loading_the_definitions_warns_of_nothing(pipeline_env: Path) -> None:
    """No beta, superseded or deprecated API of Dagster's (their warnings print on every load)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_definitions()
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


def test_automation_snapshot(defs: dg.Definitions) -> None:
    schedules = {(s.name, s.cron_schedule, s.job_name) for s in defs.schedules or []}
    assert schedules == {("daily_sales_schedule", "15 0 * * *", "daily_sales_job")}
    sensors = {(s.name, s.sensor_type.value, s.default_status.value) for s in defs.sensors or []}
    assert sensors == {
        ("sales_summary_sensor", "ASSET", "RUNNING"),
        ("run_failure_alert_sensor", "RUN_STATUS", "RUNNING"),
    }
    jobs = {job.name for job in defs.jobs or []}
    assert jobs == {"daily_sales_job", "daily_sales_summary_job"}


@pytest.mark.parametrize(
    ("value", "executor"),
    [(None, "in_process"), ("in_process", "in_process"), ("multiprocess", "multiprocess")],
)
def test_executor_comes_from_etl_executor(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch, value: str | None, executor: str
) -> None:
    if value is None:
        monkeypatch.delenv("ETL_EXECUTOR", raising=False)
    else:
        monkeypatch.setenv("ETL_EXECUTOR", value)
    defs = build_definitions()
    for job_name in ("daily_sales_job", "daily_sales_summary_job", "__ASSET_JOB"):
        assert defs.resolve_job_def(job_name).executor_def.name == executor


def test_an_unknown_executor_is_refused_by_name(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="ETL_EXECUTOR='threads' is not an executor"):
        build_definitions()
