"""SQL text for the warehouse's tables: quoted names and literals, and the condition that selects
a table slice's partitions (explicit UTC literals, so the host's time zone never changes which
rows a slice holds)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from dagster import TimeWindow

from etl_assets.warehouse.dagster_internals import (
    TablePartitionDimension,
    TableSlice,
    escape_sql_string_literal,
)

PLAIN_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""A name that needs no quoting to be read as a column (a partition expression may be SQL)."""


def quote_identifier(name: str) -> str:
    """Quote a schema, table or column name for DuckDB (``my"col`` -> ``"my""col"``)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string as a SQL literal, doubling single quotes."""
    return "'" + escape_sql_string_literal(value) + "'"


def qualified_name(table_slice: TableSlice) -> str:
    """The quoted ``"schema"."table"`` of a table slice, for SQL."""
    return f"{quote_identifier(table_slice.schema)}.{quote_identifier(table_slice.table)}"


def display_name(table_slice: TableSlice) -> str:
    """The ``schema.table`` of a table slice, for people and metadata."""
    return f"{table_slice.schema}.{table_slice.table}"


def partition_expr_sql(partition_expr: str) -> str:
    """Quote a partition expression that is a plain column name; keep an expression as written."""
    if PLAIN_IDENTIFIER.fullmatch(partition_expr):
        return quote_identifier(partition_expr)
    return partition_expr


def utc_timestamp_literal(moment: datetime) -> str:
    """A ``TIMESTAMPTZ '... +00:00'`` literal for an instant (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"TIMESTAMPTZ '{moment.astimezone(UTC).isoformat(sep=' ')}'"


def partition_where_clause(partition_dimensions: Sequence[TablePartitionDimension]) -> str:
    """The SQL condition selecting exactly the rows of the given partitions."""
    clauses: list[str] = []
    for dimension in partition_dimensions:
        expr = partition_expr_sql(dimension.partition_expr)
        if isinstance(dimension.partitions, TimeWindow):
            start = utc_timestamp_literal(dimension.partitions.start)
            end = utc_timestamp_literal(dimension.partitions.end)
            clauses.append(f"{expr} >= {start} AND {expr} < {end}")
        else:
            keys = cast("Sequence[str]", dimension.partitions)
            if not keys:
                clauses.append("FALSE")
            else:
                clauses.append(f"{expr} IN ({', '.join(quote_literal(k) for k in keys)})")
    return " AND ".join(f"({clause})" for clause in clauses) or "TRUE"
