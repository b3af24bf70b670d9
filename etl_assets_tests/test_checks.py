"""The column_schema_change check: the written columns against the declared column schema."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from etl_assets.checks import (
    COLUMN_SCHEMA_CHANGE,
    column_schema_differences,
    column_schema_result,
)
from etl_assets.definitions import build_definitions
from etl_assets_tests.support import materialize_day

DAY = "2026-11-18"
ASSET = dg.AssetKey("raw_records")
DECLARED = dg.TableSchema(
    columns=[dg.TableColumn("order_id", "BIGINT"), dg.TableColumn("product", "VARCHAR")]
)


def schema(*columns: tuple[str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, type_) for name, type_ in columns])


def test_the_declared_columns_written_as_declared_differ_in_nothing() -> None:
    written = schema(("ORDER_ID", "bigint"), ("product", "VARCHAR"))
    assert column_schema_differences(DECLARED, written) == []


def test_added_missing_and_retyped_columns_are_each_named() -> None:
    written = schema(("order_id", "VARCHAR"), ("note", "VARCHAR"))
    assert column_schema_differences(DECLARED, written) == [
        "added (not declared): note",
        "missing (declared): product",
        "retyped: order_id: declared BIGINT, written VARCHAR",
    ]


def test_the_result_warns_on_a_difference_and_on_a_write_without_schema() -> None:
    def latest(**metadata: object) -> dg.AssetMaterialization:
        return dg.AssetMaterialization(ASSET, metadata=metadata)  # type: ignore[arg-type]

    changed = column_schema_result(
        ASSET, DECLARED, latest(**{"dagster/column_schema": schema(("order_id", "BIGINT"))})
    )
    assert (changed.check_name, changed.passed) == (COLUMN_SCHEMA_CHANGE, False)
    assert changed.severity == dg.AssetCheckSeverity.WARN
    assert changed.description == "missing (declared): product"

    no_schema = column_schema_result(ASSET, DECLARED, latest(rows=3))
    assert not no_schema.passed
    assert column_schema_result(ASSET, DECLARED, None).passed  # nothing written yet


def test_the_check_runs_after_the_write_and_warns_on_a_column_the_table_gained(
    pipeline_env: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions()
    selection = dg.AssetSelection.assets(ASSET)  # with its checks

    def schema_check(result: dg.ExecuteInProcessResult) -> tuple[bool, str | None]:
        [evaluation] = [
            e for e in result.get_asset_check_evaluations() if e.check_name == COLUMN_SCHEMA_CHANGE
        ]
        assert evaluation.asset_key == ASSET
        return evaluation.passed, evaluation.description

    first = materialize_day(defs, DAY, selection=selection, instance=instance, with_checks=True)
    assert schema_check(first) == (True, "columns and types as declared")

    with duckdb.connect(str(pipeline_env)) as conn:
        conn.execute("ALTER TABLE raw.raw_records ADD COLUMN stray VARCHAR")
    again = materialize_day(defs, DAY, selection=selection, instance=instance, with_checks=True)
    assert again.success  # a WARN check does not fail the run
    assert schema_check(again) == (False, "added (not declared): stray")
