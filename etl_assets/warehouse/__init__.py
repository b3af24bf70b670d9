"""The DuckDB warehouse: an atomic, by-name, schema-evolving IO manager built on dagster-duckdb."""

from etl_assets.warehouse.duckdb_client import (
    WarehouseLockError,
    WarehouseMemoryError,
    WarehouseWriteError,
    connect_warehouse,
)
from etl_assets.warehouse.in_warehouse import WarehouseQuery, WarehouseSlice
from etl_assets.warehouse.io_manager import WarehouseIOManager
from etl_assets.warehouse.rows_handler import WarehouseTableMissingError

__all__ = [
    "WarehouseIOManager",
    "WarehouseLockError",
    "WarehouseMemoryError",
    "WarehouseQuery",
    "WarehouseSlice",
    "WarehouseTableMissingError",
    "WarehouseWriteError",
    "connect_warehouse",
]
