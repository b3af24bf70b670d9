"""A partition replace: the rows of a view (a registered DataFrame or a query) written by name
into their table, in the caller's transaction, with the metadata the UI shows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import cast

import duckdb
from dagster import MetadataValue, OutputContext, TableSchema

from etl_assets.warehouse.changes import count_changes
from etl_assets.warehouse.dagster_internals import RawMetadataValue, TableMetadataSet, TableSlice
from etl_assets.warehouse.duckdb_client import (
    delete_slice,
    fetch_scalar,
    supports_column_compression,
)
from etl_assets.warehouse.per_partition import (
    partition_buckets,
    record_per_partition,
    rows_by_partition,
)
from etl_assets.warehouse.sql_text import (
    qualified_name,
    quote_identifier,
)
from etl_assets.warehouse.table_schema import (
    create_or_evolve,
    declared_compressions,
    declared_schema,
    describe_columns,
    enforce_required,
    nullable_columns,
    required_columns,
    storable_type,
    written_column_schema,
)


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
        n: storable_type(t) for n, t in describe_columns(connection, quote_identifier(view)).items()
    }
    wanted = dict(declared_types)
    for name, type_ in inferred.items():
        if name.casefold() not in declared_folded:
            wanted[name] = type_
    required = required_columns(declared)
    compressions = (
        declared_compressions(declared) if supports_column_compression(connection) else {}
    )
    table_columns = create_or_evolve(
        context, connection, table_slice, wanted, compressions, required
    )
    casts = _frame_casts(list(inferred), table_columns, declared)
    buckets = partition_buckets(context, table_slice)
    changes, changes_by_partition = count_changes(
        context, connection, table_slice, view, casts, buckets
    )
    delete_slice(connection, table_slice)
    inserted = _insert(connection, table_slice, view, casts)
    enforce_required(context, connection, table_slice, required)
    if buckets is not None:
        rows = rows_by_partition(connection, view, casts, buckets)
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
        column_schema=written_column_schema(
            table_columns, declared, nullable_columns(connection, table_slice)
        ),
        storage_kind="duckdb",
    )
    return {**metadata, **changes, "warehouse": MetadataValue.path(str(table_slice.database))}


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
