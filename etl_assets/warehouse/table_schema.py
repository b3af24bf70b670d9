"""The table a write goes into: created or evolved from the declared column schema and the rows'
own columns, NOT NULL where the schema requires it, and the column schema the UI is shown."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import duckdb
from dagster import (
    OutputContext,
    TableColumn,
    TableColumnConstraints,
    TableSchema,
    TableSchemaMetadataValue,
)

from etl_assets.warehouse.dagster_internals import TableSlice
from etl_assets.warehouse.duckdb_client import (
    fetch_scalar,
    table_exists,
)
from etl_assets.warehouse.sql_text import (
    display_name,
    qualified_name,
    quote_identifier,
)

COLUMN_SCHEMA_KEY = "dagster/column_schema"
"""Definition metadata key holding the declared ``TableSchema`` (types are DuckDB type names)."""

COMPRESSION_TAG = "duckdb/compression"
"""Declared column tag: the DuckDB compression to create that column with (e.g. ``zstd``).
It applies when the table or column is created; DuckDB cannot change it afterwards."""

FALLBACK_TYPE = "VARCHAR"
"""Stored type for frame columns DuckDB would type as NULL (all None) or ENUM (category)."""

_NULL_TYPE = re.compile(r'"?\bNULL\b"?')


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


def describe_columns(connection: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = connection.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def declared_compressions(declared: TableSchema | None) -> dict[str, str]:
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


def create_or_evolve(
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
        existing = {name.casefold() for name in describe_columns(connection, table)}
        for name, type_ in wanted.items():
            if name.casefold() not in existing:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {definition(name, type_)}")
                context.log.info("Added column %s %s to %s", name, type_, display_name(table_slice))
    return describe_columns(connection, table)


def required_columns(declared: TableSchema | None) -> frozenset[str]:
    """The declared NOT NULL columns (``constraints.nullable=False``), casefolded."""
    return frozenset(
        c.name.casefold()
        for c in (declared.columns if declared else [])
        if c.constraints is not None and not c.constraints.nullable
    )


def enforce_required(
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
    for name in nullable_columns(connection, table_slice):
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


def nullable_columns(connection: duckdb.DuckDBPyConnection, table_slice: TableSlice) -> list[str]:
    """The table's columns that may hold NULL, as the warehouse declares them."""
    rows = connection.execute(
        "SELECT column_name FROM duckdb_columns()"
        " WHERE database_name = current_database() AND schema_name = ? AND table_name = ?"
        " AND is_nullable",
        [table_slice.schema, table_slice.table],
    ).fetchall()
    return [name for (name,) in rows]


def written_column_schema(
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
