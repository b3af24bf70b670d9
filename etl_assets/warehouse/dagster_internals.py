"""Every private ``dagster._core`` name this project uses, in one place.

The IO manager extends dagster-duckdb's ``DbIOManager``: its extension points (the table slice it
hands to a ``DbClient`` and a ``DbTypeHandler``) and the typed metadata set for row counts and
column schemas have no public import path in Dagster 1.13. A Dagster upgrade that moves them
breaks this module alone.
"""

from dagster._core.definitions.metadata import RawMetadataValue, TableMetadataSet
from dagster._core.storage.db_io_manager import (
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
    escape_sql_string_literal,
)

__all__ = [
    "DbIOManager",
    "DbTypeHandler",
    "RawMetadataValue",
    "TableMetadataSet",
    "TablePartitionDimension",
    "TableSlice",
    "escape_sql_string_literal",
]
