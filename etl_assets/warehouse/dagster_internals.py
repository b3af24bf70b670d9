"""Every private ``dagster._core`` name this project uses, in one place.

The IO manager extends dagster-duckdb's ``DbIOManager``: its extension points (the table slice it
hands to a ``DbClient`` and a ``DbTypeHandler``) and the typed metadata set for row counts and
column schemas have no public import path in Dagster 1.13; nor can an IO manager give the
partitions of one output different metadata (``add_partition_metadata``). A Dagster upgrade that
moves them breaks this module alone.
"""

from collections.abc import Mapping

from dagster import DagsterInvariantViolationError, OutputContext
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
    "add_partition_metadata",
    "escape_sql_string_literal",
]


def add_partition_metadata(
    context: OutputContext, partition_key: str, metadata: Mapping[str, RawMetadataValue]
) -> None:
    """Metadata for the materialization of one partition of the output being handled, e.g. by a
    run over a partition range. ``OutputContext.add_output_metadata`` applies to every partition;
    the step's ``add_asset_metadata`` (what ``AssetExecutionContext.add_asset_metadata`` calls)
    takes a partition key and is read when the materializations are built, after the write.
    Without a step (``build_output_context`` in a unit test) there is no materialization to
    give it to."""
    try:
        step_context = context.step_context
    except DagsterInvariantViolationError:
        return
    step_context.add_asset_metadata(
        metadata, asset_key=context.asset_key, partition_key=partition_key
    )
