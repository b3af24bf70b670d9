"""Pandas <-> DuckDB: create or evolve the table, insert by name with casts, report metadata."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import cast

import duckdb
import pandas as pd
import pyarrow as pa
from dagster import (
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    TableSchemaMetadataValue,
)
from dagster_duckdb_pandas import DuckDBPandasTypeHandler

from etl_assets.warehouse.changes import count_changes
from etl_assets.warehouse.dagster_internals import RawMetadataValue, TableMetadataSet, TableSlice
from etl_assets.warehouse.duckdb_client import (
    WarehouseDuckDbClient,
    delete_slice,
    display_name,
    fetch_scalar,
    qualified_name,
    quote_identifier,
    supports_column_compression,
    table_exists,
)
from etl_assets.warehouse.memory import release_free_memory
from etl_assets.warehouse.per_partition import (
    PartitionBuckets,
    partition_buckets,
    record_per_partition,
)

COLUMN_SCHEMA_KEY = "dagster/column_schema"
"""Definition metadata key holding the declared ``TableSchema`` (types are DuckDB type names)."""

COMPRESSION_TAG = "duckdb/compression"
"""Declared column tag: the DuckDB compression to create that column with (e.g. ``zstd``).
It applies when the table or column is created; DuckDB cannot change it afterwards."""

FALLBACK_TYPE = "VARCHAR"
"""Stored type for frame columns DuckDB would type as NULL (all None) or ENUM (category)."""

_NULL_TYPE = re.compile(r'"?\bNULL\b"?')


class WarehouseTableMissingError(LookupError):
    """A load asked for a table that has never been materialized."""


def declared_schema(metadata: Mapping[str, object] | None) -> TableSchema | None:
    """The ``dagster/column_schema`` declared on an asset or output, if any."""
    value = (metadata or {}).get(COLUMN_SCHEMA_KEY)
    if isinstance(value, TableSchemaMetadataValue):
        return value.schema
    return value if isinstance(value, TableSchema) else None


def storable_type(duckdb_type: str) -> str:
    """A DuckDB type fit for a table column: ENUM and NULL (also nested) become VARCHAR."""
    if duckdb_type.upper().startswith("ENUM("):
        return FALLBACK_TYPE
    return _NULL_TYPE.sub(FALLBACK_TYPE, duckdb_type)


def _normalized_frame(obj: pd.DataFrame) -> pd.DataFrame:
    frame = obj.copy(deep=False)
    frame.columns = [str(c) for c in frame.columns]
    folded = [c.casefold() for c in frame.columns]
    duplicates = sorted({c for c in frame.columns if folded.count(c.casefold()) > 1})
    if duplicates:
        raise ValueError(f"DataFrame has duplicate column names (case-insensitive): {duplicates}")
    return frame


def _describe(connection: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def _compressions(declared: TableSchema | None) -> dict[str, str]:
    """Column name (casefolded) -> the compression its ``duckdb/compression`` tag names."""
    found = {}
    for column in declared.columns if declared else []:
        compression = (column.tags or {}).get(COMPRESSION_TAG)
        if compression:
            if not re.fullmatch(r"[A-Za-z_]+", compression):
                raise ValueError(
                    f"Column {column.name}: {COMPRESSION_TAG} must name a DuckDB compression"
                    f" (e.g. zstd), got {compression!r}"
                )
            found[column.name.casefold()] = compression
    return found


def _create_or_evolve(
    context: OutputContext,
    connection: duckdb.DuckDBPyConnection,
    table_slice: TableSlice,
    wanted: dict[str, str],
    compressions: Mapping[str, str],
    required: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Make the table hold every wanted column (name -> type, in order); return its columns.

    A column in ``compressions`` (casefolded name -> DuckDB compression) is created with it; a
    new table's ``required`` columns (casefolded names) are NOT NULL. A column added to an
    existing table gets its NOT NULL from ``_enforce_required`` once it holds no NULL."""

    def definition(name: str, type_: str, *, new_table: bool = False) -> str:
        compression = compressions.get(name.casefold())
        using = f" USING COMPRESSION {compression}" if compression else ""
        not_null = " NOT NULL" if new_table and name.casefold() in required else ""
        return f"{quote_identifier(name)} {type_}{using}{not_null}"

    table = qualified_name(table_slice)
    if not table_exists(connection, table_slice.schema, table_slice.table):
        if not wanted:
            raise ValueError(
                f"Cannot create {display_name(table_slice)}: the DataFrame has no columns"
                f" and no {COLUMN_SCHEMA_KEY} is declared"
            )
        columns = ", ".join(definition(n, t, new_table=True) for n, t in wanted.items())
        connection.execute(f"CREATE TABLE {table} ({columns})")
        context.log.info("Created %s (%s)", display_name(table_slice), columns)
    else:
        existing = {name.casefold() for name in _describe(connection, table)}
        for name, type_ in wanted.items():
            if name.casefold() not in existing:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {definition(name, type_)}")
                context.log.info("Added column %s %s to %s", name, type_, display_name(table_slice))
    return _describe(connection, table)


def _required(declared: TableSchema | None) -> frozenset[str]:
    """The declared NOT NULL columns (``constraints.nullable=False``), casefolded."""
    return frozenset(
        c.name.casefold()
        for c in (declared.columns if declared else [])
        if c.constraints is not None and not c.constraints.nullable
    )


def _enforce_required(
    context: OutputContext,
    connection: duckdb.DuckDBPyConnection,
    table_slice: TableSlice,
    required: frozenset[str],
) -> None:
    """Declare NOT NULL on required columns of a table created before they were required.

    Only when no row of the table holds NULL there: older partitions with NULLs keep the
    column nullable (logged) until they are re-materialized."""
    if not required:
        return
    table = qualified_name(table_slice)
    for name in _nullable_columns(connection, table_slice):
        if name.casefold() not in required:
            continue
        column = quote_identifier(name)
        nulls = fetch_scalar(connection, f"SELECT count(*) FROM {table} WHERE {column} IS NULL")
        if nulls:
            context.log.warning(
                "%s.%s is required but %s older row(s) hold NULL: re-materialize their"
                " partitions to make it NOT NULL",
                display_name(table_slice),
                name,
                nulls,
            )
            continue
        connection.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
        context.log.info("Declared %s.%s NOT NULL", display_name(table_slice), name)


def _nullable_columns(connection: duckdb.DuckDBPyConnection, table_slice: TableSlice) -> list[str]:
    """The table's columns that may hold NULL, as the warehouse declares them."""
    rows = connection.execute(
        "SELECT column_name FROM duckdb_columns()"
        " WHERE database_name = current_database() AND schema_name = ? AND table_name = ?"
        " AND is_nullable",
        [table_slice.schema, table_slice.table],
    ).fetchall()
    return [name for (name,) in rows]


def _frame_casts(
    frame_columns: Sequence[str], table_columns: dict[str, str], declared: TableSchema | None
) -> dict[str, str]:
    """Table column -> the SQL that reads the frame's column (alias ``frame``) as its type."""
    table_by_folded = {n.casefold(): n for n in table_columns}
    declared_by_folded = {c.name.casefold(): c.type for c in (declared.columns if declared else [])}
    casts = {}
    for column in frame_columns:
        target = table_by_folded[column.casefold()]
        type_ = declared_by_folded.get(column.casefold(), table_columns[target])
        casts[target] = f"CAST(frame.{quote_identifier(column)} AS {type_})"
    return casts


def _column_schema(
    table_columns: dict[str, str], declared: TableSchema | None, nullable: Sequence[str]
) -> TableSchema:
    """The table as written: its columns and types, the declared descriptions and tags, and NOT
    NULL where the table has it (a required column that older rows still hold NULL in shows
    as nullable, as it is)."""
    declared_by_name = {c.name.casefold(): c for c in (declared.columns if declared else [])}
    may_be_null = {name.casefold() for name in nullable}
    columns: list[TableColumn] = []
    for name, type_ in table_columns.items():
        known = declared_by_name.get(name.casefold())
        constraints = known.constraints if known else None
        if constraints is not None and not constraints.nullable and name.casefold() in may_be_null:
            constraints = TableColumnConstraints(
                nullable=True, unique=constraints.unique, other=constraints.other
            )
        columns.append(
            TableColumn(
                name=name,
                type=type_,
                description=known.description if known else None,
                constraints=constraints,
                tags=known.tags if known else None,
            )
        )
    return TableSchema(columns=columns)


def new_view_name() -> str:
    """A name for the rows being written, registered for the length of one write."""
    return f"__warehouse_rows_{uuid.uuid4().hex}"


def write_rows(
    context: OutputContext,
    table_slice: TableSlice,
    connection: duckdb.DuckDBPyConnection,
    view: str,
) -> dict[str, RawMetadataValue]:
    """Replace the slice with the rows of ``view`` (a registered frame or a query), by name.

    Creates or evolves the table from the declared ``dagster/column_schema`` and the rows' own
    columns, counts the changes, deletes the slice, inserts, declares NOT NULL where required,
    all in the caller's transaction; returns the row counts and column schema as metadata."""
    declared = declared_schema(context.definition_metadata)
    declared_types = {c.name: c.type for c in (declared.columns if declared else [])}
    declared_folded = {n.casefold(): t for n, t in declared_types.items()}
    inferred = {
        n: storable_type(t) for n, t in _describe(connection, quote_identifier(view)).items()
    }
    wanted = dict(declared_types)
    for name, type_ in inferred.items():
        if name.casefold() not in declared_folded:
            wanted[name] = type_
    required = _required(declared)
    compressions = _compressions(declared) if supports_column_compression(connection) else {}
    table_columns = _create_or_evolve(
        context, connection, table_slice, wanted, compressions, required
    )
    casts = _frame_casts(list(inferred), table_columns, declared)
    buckets = partition_buckets(context, table_slice)
    changes, changes_by_partition = count_changes(
        context, connection, table_slice, view, casts, buckets
    )
    delete_slice(connection, table_slice)
    inserted = _insert(connection, table_slice, view, casts)
    _enforce_required(context, connection, table_slice, required)
    if buckets is not None:
        rows = _rows_by_partition(connection, view, casts, buckets)
        record_per_partition(
            context,
            {
                key: {
                    "dagster/partition_row_count": rows.get(key, 0),
                    **changes_by_partition.get(key, {}),
                }
                for key in buckets.keys
            },
        )

    total = fetch_scalar(connection, f"SELECT count(*) FROM {qualified_name(table_slice)}")
    metadata = TableMetadataSet(
        row_count=int(cast(int, total)),
        partition_row_count=inserted if context.has_asset_partitions else None,
        column_schema=_column_schema(
            table_columns, declared, _nullable_columns(connection, table_slice)
        ),
        storage_kind="duckdb",
    )
    return {**metadata, **changes, "warehouse": MetadataValue.path(str(table_slice.database))}


def _rows_by_partition(
    connection: duckdb.DuckDBPyConnection,
    view: str,
    casts: Mapping[str, str],
    buckets: PartitionBuckets,
) -> dict[str, int]:
    """How many of the written rows fall in each partition."""
    if buckets.column not in casts:
        return {}
    part = buckets.key_sql(casts[buckets.column])
    rows = connection.execute(
        f"SELECT {part}, count(*) FROM {quote_identifier(view)} AS frame GROUP BY ALL"
    ).fetchall()
    return {key: int(count) for key, count in rows if key is not None}


def _insert(
    connection: duckdb.DuckDBPyConnection,
    table_slice: TableSlice,
    view: str,
    casts: Mapping[str, str],
) -> int:
    """Insert the rows of ``view`` by name; the number inserted."""
    if not casts:
        return 0
    selects = ", ".join(f"{sql} AS {quote_identifier(c)}" for c, sql in casts.items())
    return int(
        cast(
            int,
            fetch_scalar(
                connection,
                f"INSERT INTO {qualified_name(table_slice)} BY NAME"
                f" SELECT {selects} FROM {quote_identifier(view)} AS frame",
            ),
        )
    )


class WarehousePandasTypeHandler(DuckDBPandasTypeHandler):
    """Writes DataFrames by column name into a declared or inferred, evolving table."""

    def handle_output(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        obj: pd.DataFrame,
        connection: duckdb.DuckDBPyConnection,
    ) -> Mapping[str, RawMetadataValue]:
        view = new_view_name()
        # No try/finally: after a failure the aborted transaction refuses unregister() (which
        # would mask the real error), and closing the connection drops the view anyway.
        connection.register(view, _normalized_frame(obj))
        metadata = write_rows(context, table_slice, connection, view)
        connection.unregister(view)
        return metadata

    def load_input(
        self,
        context: InputContext,
        table_slice: TableSlice,
        connection: duckdb.DuckDBPyConnection,
    ) -> pd.DataFrame:
        prepare_load(context, table_slice, connection)
        select = WarehouseDuckDbClient.get_select_statement(table_slice)
        return frame_from_arrow(connection.sql(select).to_arrow_table())


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
