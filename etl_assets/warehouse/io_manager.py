"""``WarehouseIOManager``: the DuckDB IO manager every asset of the pipeline is persisted with."""

from collections.abc import Sequence
from typing import Literal

import pandas as pd
from dagster import InitResourceContext
from dagster_duckdb import DuckDBIOManager
from pydantic import Field

from etl_assets.warehouse.dagster_internals import DbIOManager, DbTypeHandler
from etl_assets.warehouse.duckdb_client import (
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    DEFAULT_WRITE_MEMORY_LIMIT,
    WarehouseDuckDbClient,
)
from etl_assets.warehouse.in_warehouse import (
    WarehouseQueryTypeHandler,
    WarehouseSliceTypeHandler,
)
from etl_assets.warehouse.rows_handler import WarehouseRowsTypeHandler


class WarehouseIOManager(DuckDBIOManager):
    """Stores pandas DataFrames in a DuckDB file, one table per asset (``schema.asset_name``);
    an asset may instead return a ``WarehouseQuery`` whose rows are computed in the warehouse,
    and take an input as a ``WarehouseSlice`` to read it there (``in_warehouse.py``).

    Compared with ``DuckDBPandasIOManager``: a write is one transaction (a failed write keeps the
    previous rows), columns are matched by name and new ones are added, a declared
    ``dagster/column_schema`` (DuckDB type names) fixes the table's types, empty frames still
    create or clear their table, partition slices are exact in any host time zone, identifiers are
    quoted, connections are always closed, and lock conflicts are retried for
    ``lock_timeout_seconds`` before failing with the holder's PID.

    Asset metadata: ``schema`` (default: this resource's ``schema``, the key prefix, or
    ``public``), ``partition_expr`` for partitioned assets, optional ``dagster/column_schema``.
    """

    lock_timeout_seconds: float = Field(
        default=DEFAULT_LOCK_TIMEOUT_SECONDS,
        description=(
            "Seconds to keep retrying when another process holds the database file's lock,"
            " before the run fails with a message naming that process."
        ),
    )

    write_memory_limit: str = Field(
        default=DEFAULT_WRITE_MEMORY_LIMIT,
        pattern=r"^\d+(\.\d+)?\s*([KMGT]i?B|B)$",
        description=(
            "DuckDB memory limit of every warehouse session, e.g. '512MB' or '2GB': writing an"
            " asset, and a step's work where its input is stored (the cleaning of raw_records);"
            " beyond it DuckDB spills to its temporary folder (beside the database file; for"
            " DuckLake, .tmp in the working directory)."
        ),
    )

    # The DuckLake backend (ETL_WAREHOUSE=ducklake, see warehouse/ducklake.py). The catalog is
    # given as an EnvVar, so the UI shows the variable's name, never the connection string.
    warehouse: Literal["duckdb", "ducklake"] = Field(
        default="duckdb",
        description="duckdb: one local file (`database`); ducklake: a DuckLake many workers share.",
    )
    ducklake_catalog: str | None = Field(
        default=None, description="DuckLake catalog: a PostgreSQL URL or libpq string."
    )
    ducklake_data_path: str | None = Field(
        default=None, description="The folder DuckLake writes its Parquet files to."
    )

    @staticmethod
    def type_handlers(
        client: type[WarehouseDuckDbClient] = WarehouseDuckDbClient,
    ) -> Sequence[DbTypeHandler]:
        return [
            WarehouseRowsTypeHandler(),
            WarehouseQueryTypeHandler(),
            WarehouseSliceTypeHandler(client),
        ]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame

    def create_io_manager(self, context: InitResourceContext) -> DbIOManager:
        if self.lock_timeout_seconds < 0:
            raise ValueError("lock_timeout_seconds must be zero or positive")

        manager: type[DbIOManager] = DbIOManager
        client: WarehouseDuckDbClient = WarehouseDuckDbClient()
        if self.warehouse == "ducklake":
            from etl_assets.warehouse.ducklake import DuckLakeClient, RetryingDbIOManager

            if not self.ducklake_catalog or not self.ducklake_data_path:
                raise ValueError(
                    "warehouse='ducklake' needs ducklake_catalog and ducklake_data_path"
                    " (ETL_DUCKLAKE_CATALOG, ETL_DUCKLAKE_DATA_PATH)"
                )
            manager, client = RetryingDbIOManager, DuckLakeClient()
        return manager(
            db_client=client,
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(type(client)),
            default_load_type=self.default_load_type(),
            io_manager_name="WarehouseIOManager",
        )
