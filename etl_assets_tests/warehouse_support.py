"""Shared by the warehouse IO manager's tests: a small daily raw table, runs through real
``dg.materialize`` against a real DuckDB file, and ways to look at what they wrote."""

from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd

from etl_assets.warehouse import WarehouseIOManager

DAILY = dg.DailyPartitionsDefinition(start_date="2026-11-01", timezone="UTC")


RAW_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("partition_date", "DATE", description="UTC day the order belongs to"),
        dg.TableColumn("order_id", "BIGINT", description="Order identifier"),
        dg.TableColumn("amount", "DOUBLE", description="Order total"),
        dg.TableColumn("created_at", "TIMESTAMP WITH TIME ZONE", description="Creation instant"),
    ]
)


Source = dict[str, pd.DataFrame]


def raw_asset(source: Source, expr: str = "partition_date") -> dg.AssetsDefinition:
    @dg.asset(
        partitions_def=DAILY,
        metadata={"schema": "raw", "partition_expr": expr, "dagster/column_schema": RAW_SCHEMA},
    )
    def raw_records() -> pd.DataFrame:
        return source["frame"]

    return raw_records


def orders(day: str, ids: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition_date": [date.fromisoformat(day)] * len(ids),
            "order_id": ids,
            "amount": [1.5] * len(ids),
            "created_at": pd.to_datetime([f"{day}T12:00:00Z"] * len(ids), utc=True),
        }
    )


def run(
    assets: list[Any], db: Path, key: str | None = None, **io: Any
) -> dg.ExecuteInProcessResult:
    manager = WarehouseIOManager(database=str(db), **io)
    return dg.materialize(assets, resources={"io_manager": manager}, partition_key=key)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Query through a fresh read-write connection, closed before returning."""
    connection = duckdb.connect(str(db))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def metadata_of(result: dg.ExecuteInProcessResult, node: str = "raw_records") -> dict[str, Any]:
    event = result.asset_materializations_for_node(node)[0]
    return {key: value.value for key, value in event.metadata.items()}


def types_of(db: Path, table: str) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in query(db, f"DESCRIBE {table}")}
