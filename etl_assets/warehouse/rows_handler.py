"""Rows in and out of the warehouse, as DataFrames or Arrow tables: written by name through a
partition replace (``replace.write_rows``); a DataFrame load keeps text in Arrow buffers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb
import pandas as pd
import pyarrow as pa
from dagster import InputContext, OutputContext
from dagster_duckdb_pandas import DuckDBPandasTypeHandler

from etl_assets.warehouse.dagster_internals import RawMetadataValue, TableSlice
from etl_assets.warehouse.duckdb_client import (
    WarehouseDuckDbClient,
    table_exists,
)
from etl_assets.warehouse.memory import release_free_memory
from etl_assets.warehouse.replace import new_view_name, write_rows
from etl_assets.warehouse.sql_text import (
    display_name,
)


class WarehouseTableMissingError(LookupError):
    """A load asked for a table that has never been materialized."""


Rows = pd.DataFrame | pa.Table


def _normalized_rows(obj: Rows) -> Rows:
    """The rows with text column names, none of them twice (DuckDB's names ignore case); a
    frame whose text is already Arrow-backed, as an Arrow table."""
    if isinstance(obj, pa.Table):
        rows: Rows = obj
        names = list(obj.column_names)
    else:
        rows = obj.copy(deep=False)
        rows.columns = names = [str(c) for c in rows.columns]
    folded = [c.casefold() for c in names]
    duplicates = sorted({c for c in names if folded.count(c.casefold()) > 1})
    if duplicates:
        kind = type(obj).__name__
        raise ValueError(f"{kind} has duplicate column names (case-insensitive): {duplicates}")
    if isinstance(rows, pd.DataFrame) and any(map(_is_arrow_text, rows.dtypes)):
        # Text already in Arrow buffers (a contract's frame): DuckDB reads it as Arrow. (DuckDB
        # 1.5's pandas scan reaches into such columns by a name pandas 2.3 warns about.)
        return pa.Table.from_pandas(rows, preserve_index=False)
    return rows


def _is_arrow_text(dtype: object) -> bool:
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"


class WarehouseRowsTypeHandler(DuckDBPandasTypeHandler):
    """Writes DataFrames, or Arrow tables (a DuckDB result, written without becoming a
    DataFrame), by column name into a declared or inferred, evolving table."""

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pd.DataFrame, pa.Table]

    def handle_output(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        obj: Rows,
        connection: duckdb.DuckDBPyConnection,
    ) -> Mapping[str, RawMetadataValue]:
        view = new_view_name()
        # No try/finally: after a failure the aborted transaction refuses unregister() (which
        # would mask the real error), and closing the connection drops the view anyway.
        connection.register(view, _normalized_rows(obj))
        metadata = write_rows(context, table_slice, connection, view)
        connection.unregister(view)
        return metadata

    def load_input(
        self,
        context: InputContext,
        table_slice: TableSlice,
        connection: duckdb.DuckDBPyConnection,
    ) -> Rows:
        prepare_load(context, table_slice, connection)
        select = WarehouseDuckDbClient.get_select_statement(table_slice)
        rows = connection.sql(select).to_arrow_table()
        return rows if context.dagster_type.typing_type is pa.Table else frame_from_arrow(rows)


def prepare_load(
    context: InputContext, table_slice: TableSlice, connection: duckdb.DuckDBPyConnection
) -> None:
    """Before a step reads its input: release what the previous step left behind (with the
    in-process executor all steps share one process), and fail clearly if the table was never
    materialized."""
    release_free_memory()
    if not table_exists(connection, table_slice.schema, table_slice.table):
        upstream = context.upstream_output
        asset = (
            upstream.asset_key.to_user_string()
            if upstream is not None and upstream.has_asset_key
            else table_slice.table
        )
        raise WarehouseTableMissingError(
            f"Table {display_name(table_slice)} does not exist in {table_slice.database}:"
            f" materialize {asset} first"
        )


def frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    """A DataFrame over an Arrow result, typed as DuckDB's ``fetchdf`` types it except text.

    Text stays in its Arrow buffers (``string[pyarrow]``) instead of becoming one Python object
    per value, which made loading a day of raw payloads slow and several times its size in
    memory. Integer columns with NULLs are ``Int64``, DATE is ``datetime64[us]``.
    """
    columns: dict[str, pd.Series] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            columns[name] = pd.Series(pd.arrays.ArrowStringArray(column))
        elif pa.types.is_integer(kind) and column.null_count:
            columns[name] = pd.Series(column.to_pandas(types_mapper={kind: pd.Int64Dtype()}.get))
        elif pa.types.is_date(kind):
            columns[name] = column.to_pandas(date_as_object=False).astype("datetime64[us]")
        else:
            columns[name] = column.to_pandas()
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows), copy=False)
