"""The DuckDB warehouse: an atomic, by-name, schema-evolving IO manager built on dagster-duckdb."""

from etl_assets.warehouse.duckdb_client import (
    WarehouseLockError,
    WarehouseWriteError,
    connect_warehouse,
)
from etl_assets.warehouse.io_manager import WarehouseIOManager
from etl_assets.warehouse.pandas_handler import WarehouseTableMissingError
from etl_assets.warehouse.query_handler import WarehouseQuery

__all__ = [
    "WarehouseIOManager",
    "WarehouseLockError",
    "WarehouseQuery",
    "WarehouseTableMissingError",
    "WarehouseWriteError",
    "connect_warehouse",
]
