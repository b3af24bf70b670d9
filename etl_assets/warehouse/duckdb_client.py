"""Connections to the DuckDB warehouse, and Dagster's DuckDB client on them.

Opening a file retries on lock conflicts with jittered backoff, every connection is closed on
every path, a write is one transaction, and every session runs in UTC; the SQL text for table
slices (quoted names, the UTC partition condition) is ``sql_text``'s.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

import duckdb
from dagster import InputContext, OutputContext
from dagster_duckdb.io_manager import DuckDbClient

from etl_assets.warehouse.dagster_internals import TableSlice
from etl_assets.warehouse.sql_text import (
    display_name,
    partition_where_clause,
    qualified_name,
    quote_identifier,
    quote_literal,
)

DEFAULT_LOCK_TIMEOUT_SECONDS = 60.0
"""How long opening the database file waits for another process to release its lock."""

DEFAULT_WRITE_MEMORY_LIMIT = "512MB"
"""DuckDB's memory limit in a warehouse session: writing an asset, or a step's work where its
input is stored (its buffers, hash tables and temp tables; the caller's DataFrames are not in it).
Uncapped, DuckDB keeps up to 80 % of RAM: at 1M orders the cleaning alone took ~900 MB of it."""

FIRST_RETRY_DELAY_SECONDS = 0.05
"""First wait after a lock conflict; each further wait doubles, with jitter, up to the cap."""

MAX_RETRY_DELAY_SECONDS = 2.0
"""Longest single wait between two attempts to open a locked file."""

SESSION_TIME_ZONE = "UTC"
"""Every session runs in UTC so DATE <-> TIMESTAMPTZ casts and comparisons are host-independent."""

IN_MEMORY_DATABASE = ":memory:"
_LOCK_CONFLICT_TEXT = "Could not set lock"
_DIFFERENT_CONFIG_TEXT = "different configuration"


class WarehouseLockError(RuntimeError):
    """Another process kept the database file locked for longer than the lock timeout."""


class WarehouseWriteError(RuntimeError):
    """A write failed and was rolled back: the table keeps its previous rows."""


class WarehouseMemoryError(RuntimeError):
    """DuckDB needed more than the session's memory limit for work it cannot spill to disk."""


def fetch_scalar(
    connection: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()
) -> object:
    """The first value of a query's first row (``None`` when it returns no rows)."""
    # fetchall, not fetchone: DuckDB 2.0 refuses register() while a result is half-fetched.
    rows = connection.execute(sql, list(params)).fetchall()
    return rows[0][0] if rows else None


def table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether ``schema.table`` exists in the connection's database file."""
    count = fetch_scalar(
        connection,
        "SELECT count(*) FROM information_schema.tables"
        " WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
        [schema, table],
    )
    return bool(count)


def delete_slice(connection: duckdb.DuckDBPyConnection, table_slice: TableSlice) -> None:
    """Delete the slice's rows (the whole table when unpartitioned), if the table exists."""
    # Inside the write transaction a failed statement aborts it, so check instead of catching.
    if not table_exists(connection, table_slice.schema, table_slice.table):
        return
    statement = f"DELETE FROM {qualified_name(table_slice)}"
    if table_slice.partition_dimensions:
        statement += f" WHERE {partition_where_clause(table_slice.partition_dimensions)}"
    connection.execute(statement)


def _open_with_retry(
    path: str, *, read_only: bool, config: Mapping[str, Any], lock_timeout_seconds: float
) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_timeout_seconds
    attempt = 0
    while True:
        try:
            return duckdb.connect(database=path, read_only=read_only, config=dict(config))
        except duckdb.IOException as exc:
            if _LOCK_CONFLICT_TEXT not in str(exc):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                mode = "read-only" if read_only else "read-write"
                raise WarehouseLockError(
                    f"Could not open the DuckDB warehouse {path} ({mode}) within"
                    f" {lock_timeout_seconds:g} s: another process holds its lock. Stop that"
                    " process or wait for its run to finish, then retry (or raise"
                    f" lock_timeout_seconds). DuckDB said: {exc}"
                ) from exc
            delay = min(MAX_RETRY_DELAY_SECONDS, FIRST_RETRY_DELAY_SECONDS * 2**attempt)
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            attempt += 1


@contextmanager
def connect_warehouse(
    path: str,
    *,
    read_only: bool,
    lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    config: Mapping[str, Any] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse file in a UTC session and close it on exit, whatever happens.

    ``read_only=True`` opens read-only when the file exists (other readers may share it) and
    read-write otherwise. The parent folder is created for read-write opens. Lock conflicts with
    other processes are retried for up to ``lock_timeout_seconds``, then raise
    :class:`WarehouseLockError` quoting DuckDB's message, which names the holder's PID.
    """
    # No default settings (not even the stock custom_user_agent): DuckDB lets connections in one
    # process share a file only when their settings match, e.g. a plain duckdb.connect(path).
    settings: dict[str, Any] = dict(config or {})
    in_memory = path == IN_MEMORY_DATABASE
    open_read_only = read_only and not in_memory and Path(path).exists()
    if not in_memory and not open_read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        connection = _open_with_retry(
            path,
            read_only=open_read_only,
            config=settings,
            lock_timeout_seconds=lock_timeout_seconds,
        )
    except duckdb.ConnectionException as exc:
        # This process already holds the file read-write: a reader shares that instance.
        if not (open_read_only and _DIFFERENT_CONFIG_TEXT in str(exc)):
            raise
        connection = _open_with_retry(
            path, read_only=False, config=settings, lock_timeout_seconds=lock_timeout_seconds
        )
    try:
        connection.execute(f"SET TimeZone = {quote_literal(SESSION_TIME_ZONE)}")
        yield connection
    finally:
        connection.close()


def _describe_slice(context: OutputContext, table_slice: TableSlice) -> str:
    name = display_name(table_slice)
    if context.has_partition_key:
        return f"{name} (partition {context.partition_key})"
    if context.has_asset_partitions:
        key_range = context.asset_partition_key_range
        return f"{name} (partitions {key_range.start}..{key_range.end})"
    return name


class WarehouseDuckDbClient(DuckDbClient):
    """The stock client with quoted identifiers, UTC partition slices and transactional writes."""

    @staticmethod
    def delete_table_slice(
        context: OutputContext, table_slice: TableSlice, connection: duckdb.DuckDBPyConnection
    ) -> None:
        """Nothing here: the type handler replaces the slice (``delete_slice`` then insert) in
        the same transaction, after comparing the rows it replaces with the new ones."""

    @staticmethod
    def ensure_schema_exists(
        context: OutputContext, table_slice: TableSlice, connection: duckdb.DuckDBPyConnection
    ) -> None:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(table_slice.schema)}")

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        columns = (
            ", ".join(quote_identifier(c) for c in table_slice.columns)
            if table_slice.columns
            else "*"
        )
        statement = f"SELECT {columns} FROM {qualified_name(table_slice)}"
        if table_slice.partition_dimensions:
            statement += f" WHERE {partition_where_clause(table_slice.partition_dimensions)}"
        return statement

    @staticmethod
    def get_table_name(table_slice: TableSlice) -> str:
        return display_name(table_slice)

    @staticmethod
    @contextmanager
    def connect(
        context: OutputContext | InputContext, table_slice: TableSlice
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Read-only for loads; for writes, one transaction that commits or rolls back."""
        resource_config = context.resource_config or {}
        is_write = isinstance(context, OutputContext)
        with connect_warehouse(
            str(resource_config["database"]),
            read_only=not is_write,
            lock_timeout_seconds=float(
                resource_config.get("lock_timeout_seconds", DEFAULT_LOCK_TIMEOUT_SECONDS)
            ),
            config=cast("Mapping[str, Any]", resource_config.get("connection_config") or {}),
        ) as connection:
            if not is_write:
                with read_session(connection, resource_config, table_slice):
                    yield connection
                return
            with write_transaction(connection, cast("OutputContext", context), table_slice):
                yield connection


@contextmanager
def write_transaction(
    connection: duckdb.DuckDBPyConnection, context: OutputContext, table_slice: TableSlice
) -> Iterator[None]:
    """One transaction around a write: committed on success, rolled back on any failure, which
    is raised as :class:`WarehouseWriteError` (the table keeps its previous rows)."""
    resource_config = context.resource_config or {}
    # A write may put its rows in any order (parallel inserts: about twice as fast on a day of
    # payloads) and keeps its working memory bounded, spilling beyond it.
    connection.execute("SET preserve_insertion_order = false")
    limit_memory(connection, resource_config)
    connection.execute("BEGIN TRANSACTION")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException as exc:
        _rollback_quietly(connection)
        if not isinstance(exc, Exception):
            raise
        hint = ""
        if isinstance(exc, duckdb.OutOfMemoryException):
            hint = f" (raise write_memory_limit, now {memory_limit(resource_config)})"
        raise WarehouseWriteError(
            f"Writing {_describe_slice(context, table_slice)}"
            f" failed; the table keeps its previous rows{hint}: {exc}"
        ) from exc


def memory_limit(resource_config: Mapping[str, Any]) -> str:
    """The DuckDB memory limit of the IO manager's sessions (its ``write_memory_limit``)."""
    return str(resource_config.get("write_memory_limit") or DEFAULT_WRITE_MEMORY_LIMIT)


def limit_memory(connection: duckdb.DuckDBPyConnection, resource_config: Mapping[str, Any]) -> None:
    """Cap DuckDB's memory in this session; beyond the cap it spills to a temporary folder."""
    connection.execute(f"SET memory_limit = {quote_literal(memory_limit(resource_config))}")


@contextmanager
def read_session(
    connection: duckdb.DuckDBPyConnection,
    resource_config: Mapping[str, Any],
    table_slice: TableSlice,
) -> Iterator[None]:
    """A session that reads ``table_slice`` (a load, or a step's work where its input is
    stored), capped like a write: uncapped, DuckDB keeps up to 80 % of RAM. Work beyond the cap
    that DuckDB cannot spill raises :class:`WarehouseMemoryError`, naming the setting."""
    limit_memory(connection, resource_config)
    try:
        yield
    except duckdb.OutOfMemoryException as error:
        raise WarehouseMemoryError(
            f"DuckDB ran out of memory working on {display_name(table_slice)} within its limit"
            f" of {memory_limit(resource_config)}: raise write_memory_limit in the io_manager's"
            f" config. DuckDB: {str(error).splitlines()[0]}"
        ) from error


def supports_column_compression(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether the current database can create a column with a compression (DuckLake cannot:
    its Parquet files are compressed anyway)."""
    kind = fetch_scalar(
        connection,
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()",
    )
    return kind != "ducklake"


def _rollback_quietly(connection: duckdb.DuckDBPyConnection) -> None:
    # A failed COMMIT has already ended the transaction; closing the connection discards the rest.
    with suppress(duckdb.Error):
        connection.execute("ROLLBACK")
