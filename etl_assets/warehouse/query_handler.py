"""Rows computed inside the warehouse: an asset returns a SELECT, the IO manager writes its rows.

A day of rows that is already in the warehouse (``sales_table`` from ``clean_records``) need not
come out into a DataFrame and go back in: the SELECT runs inside the same write transaction as
the partition replace, with every promise of the DataFrame path (by name, evolving, NOT NULL,
change counts, atomic).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import duckdb
from dagster import InputContext, OutputContext

from etl_assets.warehouse.dagster_internals import DbTypeHandler, RawMetadataValue, TableSlice
from etl_assets.warehouse.duckdb_client import quote_identifier
from etl_assets.warehouse.pandas_handler import new_view_name, write_rows


@dataclass(frozen=True)
class WarehouseQuery:
    """The rows of an output, as a SELECT over tables of the warehouse.

    ``describe``, when given, is called with the written rows (a relation, inside the write
    transaction) and returns extra materialization metadata (counts, a preview).
    """

    sql: str
    describe: Callable[[duckdb.DuckDBPyRelation], Mapping[str, RawMetadataValue]] | None = None


class WarehouseQueryTypeHandler(DbTypeHandler[WarehouseQuery]):
    """Writes a :class:`WarehouseQuery`'s rows; load such a table as a DataFrame."""

    def handle_output(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        obj: WarehouseQuery,
        connection: duckdb.DuckDBPyConnection,
    ) -> Mapping[str, RawMetadataValue]:
        name = new_view_name()
        view = quote_identifier(name)
        connection.execute(f"CREATE TEMP VIEW {view} AS {obj.sql}")
        metadata = write_rows(context, table_slice, connection, name)
        if obj.describe is not None:
            metadata.update(obj.describe(connection.sql(f"SELECT * FROM {view}")))
        connection.execute(f"DROP VIEW {view}")
        return metadata

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection: duckdb.DuckDBPyConnection
    ) -> WarehouseQuery:
        raise TypeError(
            f"{table_slice.schema}.{table_slice.table} is written from a query; load it as a"
            " pandas DataFrame"
        )

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [WarehouseQuery]
