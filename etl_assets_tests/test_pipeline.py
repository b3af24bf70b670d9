"""End to end: the real definitions, the demo API over HTTP, a real DuckDB file, real Dagster."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.definitions import build_definitions
from etl_assets.demo import DemoSalesApi
from etl_assets.schema import CLEAN_RECORDS, SALES_TABLE, TableContract
from etl_assets_tests.support import cli_materialize, day_counts, materialize_day, query

DAYS = ("2026-11-19", "2026-11-20")


def clean_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key == dg.AssetKey("clean_records"):
            return {key: value.value for key, value in materialization.metadata.items()}
    raise AssertionError("clean_records was not materialized")


@pytest.fixture
def two_days_loaded(pipeline_env: Path) -> dict[str, dg.ExecuteInProcessResult]:
    defs = build_definitions()
    results = {day: materialize_day(defs, day) for day in DAYS}
    assert all(result.success for result in results.values())
    return results


def test_two_partitions_land_exactly_the_served_truth(
    two_days_loaded: dict[str, dg.ExecuteInProcessResult],
    pipeline_env: Path,
    demo_api: DemoSalesApi,
) -> None:
    for day in DAYS:
        truth = demo_api.day(date.fromisoformat(day))
        payloads = query(
            pipeline_env,
            "SELECT payload FROM raw.raw_records WHERE partition_date = ? ORDER BY _record_index",
            day,
        )
        assert [json.loads(p) for (p,) in payloads] == truth.elements

        sales = query(
            pipeline_env,
            "SELECT order_id, status, amount, ordered_at FROM mart.sales_table "
            "WHERE order_date = ?",
            day,
        )
        assert {row[0] for row in sales} == truth.valid_order_ids
        assert len(sales) == len(truth.valid_order_ids)  # one row per order
        assert {row[0]: row[1] for row in sales} == truth.latest_status
        total = sum(row[2] for row in sales if row[2] is not None)
        assert math.isclose(total, truth.expected_amount_total, rel_tol=1e-9)
        assert all(row[3].date().isoformat() == day for row in sales)

        (rejected,) = query(
            pipeline_env,
            "SELECT count(*) FROM staging.rejected_records WHERE partition_date = ?",
            day,
        )[0]
        assert rejected == truth.rejected_count

        figures = clean_metadata(two_days_loaded[day])
        assert figures["served"] == len(truth.elements)
        assert figures["clean"] == len(truth.valid_order_ids)
        assert figures["rejected"] == truth.rejected_count
        assert figures["duplicates"] + figures["superseded"] == truth.redundant_count


def test_sales_table_has_the_contract_types(two_days_loaded: object, pipeline_env: Path) -> None:
    described = query(pipeline_env, "DESCRIBE mart.sales_table")
    types = {row[0]: row[1] for row in described}
    for column in SALES_TABLE.columns:
        assert types[column.name] == column.duckdb_type, column.name
    assert types["ordered_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["order_date"] == "DATE"


def test_sales_add_up_without_a_price_or_quantity_missing(
    two_days_loaded: dict[str, dg.ExecuteInProcessResult],
    pipeline_env: Path,
    demo_api: DemoSalesApi,
) -> None:
    day = DAYS[0]
    truth = demo_api.day(date.fromisoformat(day))
    # The demo serves an order whose only version has no unit_price (rejected) and one whose
    # newest version lacks it (filled from the earlier version).
    rejected = dict(
        query(
            pipeline_env,
            "SELECT reason_code, reason FROM staging.rejected_records"
            " WHERE partition_date = ? AND reason_code IN ('unit_price_missing', "
            "'quantity_missing')",
            day,
        )
    )
    assert rejected == {
        "unit_price_missing": "unit_price is missing",
        "quantity_missing": "quantity is missing",
    }
    filled = query(
        pipeline_env,
        "SELECT order_id, unit_price FROM staging.clean_records"
        " WHERE order_date = ? AND contains(_filled_fields, 'unit_price')",
        day,
    )
    assert filled
    for order_id, unit_price in filled:
        assert unit_price == pytest.approx(float(truth.expected_records[order_id]["unit_price"]))
    nulls = query(
        pipeline_env,
        "SELECT count(*) FROM mart.sales_table WHERE quantity IS NULL OR unit_price IS NULL"
        " OR amount IS NULL",
    )
    assert nulls == [(0,)]


@pytest.mark.parametrize("contract", [CLEAN_RECORDS, SALES_TABLE])
def test_required_columns_are_not_null_in_the_warehouse_and_the_ui(
    two_days_loaded: dict[str, dg.ExecuteInProcessResult], pipeline_env: Path, contract: object
) -> None:
    assert isinstance(contract, TableContract)
    nullable = dict(
        query(
            pipeline_env,
            "SELECT column_name, is_nullable FROM information_schema.columns"
            " WHERE table_schema = ? AND table_name = ?",
            contract.schema,
            contract.table,
        )
    )
    expected_required = {"order_id", "quantity", "unit_price", "ordered_at", "order_date"}
    if contract is SALES_TABLE:
        expected_required.add("amount")
    assert {name for name, flag in nullable.items() if flag == "NO"} == expected_required
    result = two_days_loaded[DAYS[0]]
    [materialization] = [
        event.event_specific_data.materialization
        for event in result.get_asset_materialization_events()
        if event.event_specific_data.materialization.asset_key.path[-1] == contract.table
    ]
    schema = materialization.metadata["dagster/column_schema"].value
    shown = {c.name for c in schema.columns if c.constraints and not c.constraints.nullable}
    assert shown == expected_required


def test_payload_columns_are_stored_with_zstd(two_days_loaded: object, pipeline_env: Path) -> None:
    for table in ("raw.raw_records", "staging.rejected_records"):
        rows = query(
            pipeline_env,
            f"SELECT DISTINCT compression FROM pragma_storage_info('{table}')"
            " WHERE column_name = 'payload' AND segment_type = 'VARCHAR'",
        )
        assert {row[0] for row in rows} - {"Constant"} == {"ZSTD"}, table


def test_rematerializing_a_partition_replaces_exactly_that_partition(
    two_days_loaded: object, pipeline_env: Path
) -> None:
    before = day_counts(pipeline_env)
    day2_loaded = query(
        pipeline_env, "SELECT min(_loaded_at) FROM mart.sales_table WHERE order_date = ?", DAYS[1]
    )
    assert materialize_day(build_definitions(), DAYS[0]).success
    assert day_counts(pipeline_env) == before  # same counts per day in every table: no duplicates
    assert (
        query(
            pipeline_env,
            "SELECT min(_loaded_at) FROM mart.sales_table WHERE order_date = ?",
            DAYS[1],
        )
        == day2_loaded
    )  # the other day was not rewritten


def test_definitions_validate_from_the_cli(pipeline_env: Path, dagster_home: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "etl_assets"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_definitions_load_and_wire_the_graph(pipeline_env: Path) -> None:
    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert parents == {
        "raw_records": [],
        "clean_records": ["raw_records"],
        "rejected_records": ["raw_records"],
        "sales_table": ["clean_records"],
        "daily_sales_summary": ["rejected_records", "sales_table"],
    }


def test_missing_sales_api_url_fails_naming_the_variable(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SALES_API_URL")
    # Dagster resolves dg.EnvVar before the run starts and names the variable.
    with pytest.raises(dg.DagsterInvalidConfigError, match='"SALES_API_URL" which is not set'):
        materialize_day(build_definitions(), DAYS[0])
    assert not pipeline_env.exists() or not query(
        pipeline_env,
        "SELECT * FROM information_schema.tables WHERE table_name = 'raw_records'",
    )


@pytest.mark.parametrize("bad_url", ["ftp://example.com", "not a url", "http://"])
def test_malformed_sales_api_url_fails_naming_the_variable(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch, bad_url: str
) -> None:
    monkeypatch.setenv("SALES_API_URL", bad_url)
    result = materialize_day(build_definitions(), DAYS[0], raise_on_error=False)
    assert not result.success
    assert "SALES_API_URL" in _failure_text(result)


def test_duckdb_path_that_is_a_folder_is_refused(
    pipeline_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_DUCKDB_PATH", str(tmp_path))
    with pytest.raises(ValueError, match="ETL_DUCKDB_PATH"):
        build_definitions()


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    texts = []
    for event in result.all_events:
        if event.is_failure and event.event_specific_data is not None:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                texts.append(error.to_string())
    return "\n".join(texts)


def test_partition_range_backfill_from_the_cli_is_one_run_with_exact_days(
    pipeline_env: Path, dagster_home: Path, demo_api: DemoSalesApi
) -> None:
    days = ["2026-10-01", "2026-10-02", "2026-10-03"]
    cli_materialize(["--partition-range", f"{days[0]}...{days[-1]}"])
    for day in days:
        truth = demo_api.day(date.fromisoformat(day))
        ids = query(pipeline_env, "SELECT order_id FROM mart.sales_table WHERE order_date = ?", day)
        assert {row[0] for row in ids} == truth.valid_order_ids
        assert len(ids) == len(truth.valid_order_ids)
        (rejected,) = query(
            pipeline_env,
            "SELECT DISTINCT rejected_rows FROM mart.daily_sales_summary WHERE order_date = ?",
            day,
        )[0]
        assert rejected == truth.rejected_count
