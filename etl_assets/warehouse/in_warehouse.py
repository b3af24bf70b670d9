"""A day of rows that stays in the warehouse: inputs read, and outputs computed, inside DuckDB.

Moving a million rows out into a DataFrame and back costs time and memory that the SQL on them
does not need. So an asset may take an input as a :class:`WarehouseSlice` (a SELECT to run in a
read-only session of its own, e.g. ``clean_and_rejected_records`` types ``raw_records``'
payloads where they are stored) and return a :class:`WarehouseQuery` (a SELECT whose rows the IO
manager writes in its partition-replace transaction, with every promise of the DataFrame path:
by name, evolving, NOT NULL, change counts, atomic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import duckdb
from dagster import InputContext, OutputContext

from etl_assets.warehouse.dagster_internals import DbTypeHandler, RawMetadataValue, TableSlice
from etl_assets.warehouse.duckdb_client import (
    WarehouseDuckDbClient,
)
from etl_assets.warehouse.per_partition import (
    partition_buckets,
    record_per_partition,
    with_zeros,
)
from etl_assets.warehouse.replace import new_view_name, write_rows
from etl_assets.warehouse.rows_handler import prepare_load
from etl_assets.warehouse.sql_text import (
    display_name,
    qualified_name,
    quote_identifier,
)


@dataclass(frozen=True)
class WarehouseQuery:
    """The rows of an output, as a SELECT over tables of the warehouse.

    ``describe``, when given, is called with the written rows (a relation over the table's
    slice, inside the write transaction) and returns extra materialization metadata (counts, a
    preview).
    """

    sql: str
    describe: Callable[[duckdb.DuckDBPyRelation], Mapping[str, RawMetadataValue]] | None = None


@dataclass(frozen=True)
class WarehouseSlice:
    """An input left in the warehouse: the SELECT of its slice (the columns asked for, the
    partitions of the run) and a way to open a read-only session to run it in."""

    select: str
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

    @contextmanager
    def open(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation]]:
        """A read-only session and the slice as a relation in it; closed on exit. Close it
        before the step's outputs are written (the DuckDB file has one writer at a time)."""
        with self.connect() as connection:
            yield connection, connection.sql(self.select)


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
        connection.execute(f"DROP VIEW {view}")
        if obj.describe is not None:
            # Described from the table as written, not from the view: that would run the query
            # again for each figure (a summary of a million orders, five times).
            written = WarehouseDuckDbClient.get_select_statement(table_slice._replace(columns=None))
            totals = obj.describe(connection.sql(written))
            metadata.update(totals)
            buckets = partition_buckets(context, table_slice)
            if buckets is not None:  # each day described from its rows just written
                table = qualified_name(table_slice)
                describe = obj.describe

                def day(key: str) -> Mapping[str, RawMetadataValue]:
                    rows = connection.sql(f"SELECT * FROM {table} WHERE {buckets.row_filter(key)}")
                    return with_zeros(totals, describe(rows))

                record_per_partition(context, {key: day(key) for key in buckets.keys})
        return metadata

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection: duckdb.DuckDBPyConnection
    ) -> WarehouseQuery:
        raise TypeError(
            f"{display_name(table_slice)} cannot be loaded as a WarehouseQuery: load it as a"
            " pandas DataFrame or a WarehouseSlice"
        )

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [WarehouseQuery]


class WarehouseSliceTypeHandler(DbTypeHandler[WarehouseSlice]):
    """Hands a step its input as a :class:`WarehouseSlice` of ``client``'s warehouse."""

    def __init__(self, client: type[WarehouseDuckDbClient]) -> None:
        self._client = client

    def handle_output(
        self,
        context: OutputContext,
        table_slice: TableSlice,
        obj: WarehouseSlice,
        connection: duckdb.DuckDBPyConnection,
    ) -> Mapping[str, RawMetadataValue]:
        raise TypeError(f"A WarehouseSlice is an input only; return rows for {table_slice.table}")

    def load_input(
        self, context: InputContext, table_slice: TableSlice, connection: duckdb.DuckDBPyConnection
    ) -> WarehouseSlice:
        prepare_load(context, table_slice, connection)
        client = self._client
        return WarehouseSlice(
            select=client.get_select_statement(table_slice),
            connect=lambda: client.connect(context, table_slice),
        )

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [WarehouseSlice]
