"""The DuckLake backend: the same tables in a DuckLake (catalog in PostgreSQL, data as Parquet).

Many processes on many machines may write it at once. Three things differ from a DuckDB file:

- extensions (``ducklake``, ``postgres``) load offline from their PyPI wheels
  (``duckdb-extension-*``), installed into a folder of ours, never from the network or ``~``;
- DuckLake detects write conflicts per table, not per partition: a partition replace that loses
  a race fails at COMMIT with "Transaction conflict" and is retried whole, with jittered,
  bounded backoff (:class:`RetryingDbIOManager`), never half-written;
- the first writes to an empty catalog (its metadata tables, schemas, tables) are serialized
  with a PostgreSQL advisory lock, since concurrent DDL races on a PostgreSQL catalog.
"""

from __future__ import annotations

import importlib
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, cast

import duckdb
from dagster import InputContext, OutputContext

from etl_assets.scale.settings import DuckLakeSettings, scrub
from etl_assets.warehouse.dagster_internals import DbIOManager, TableSlice
from etl_assets.warehouse.duckdb_client import (
    SESSION_TIME_ZONE,
    WarehouseDuckDbClient,
    WarehouseWriteError,
    read_session,
    table_exists,
    write_transaction,
)
from etl_assets.warehouse.sql_text import (
    quote_literal,
)

LAKE_ALIAS = "lake"
"""The name the lake is attached under; ``USE lake`` makes ``mart.sales_table`` resolve to it."""

EXTENSIONS = ("ducklake", "postgres")
_LOADED_NAMES = {"ducklake": "ducklake", "postgres": "postgres_scanner"}

MAX_WRITE_ATTEMPTS = 8
"""Attempts of one partition replace that keeps losing DuckLake's per-table conflict check."""
FIRST_CONFLICT_DELAY_SECONDS = 0.5
MAX_CONFLICT_DELAY_SECONDS = 8.0
"""Waits between attempts double from the first to this cap, each jittered by ±50%."""

DDL_LOCK_KEY = 7_415_230_911
"""PostgreSQL advisory lock (in the catalog's database) serializing first use and DDL."""
DDL_LOCK_TIMEOUT_SECONDS = 300.0
DDL_LOCK_POLL_SECONDS = 0.1

CONFLICT_TEXT = "Transaction conflict"
RETRIES_METADATA_KEY = "warehouse_write_retries"


class DuckLakeError(RuntimeError):
    """The lake could not be opened (message without passwords)."""


@cache
def extension_directory() -> Path:
    """Where DuckDB installs the wheel's extensions: beside this Python environment, or a temp
    folder when that is read-only; never the user's home (DuckDB's default ``~/.duckdb``)."""
    version = duckdb.__version__
    for base in (Path(sys.prefix) / "var" / "etl_assets", Path(tempfile.gettempdir())):
        folder = base / f"duckdb_extensions-{version}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if _writable(folder):
            return folder
    raise DuckLakeError("no writable folder for DuckDB extensions (sys.prefix/var, temp dir)")


def _writable(folder: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def load_extensions(connection: duckdb.DuckDBPyConnection) -> None:
    """Install (once per folder) and load the DuckLake and Postgres extensions from the wheels."""
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute(f"SET extension_directory = {quote_literal(str(extension_directory()))}")
    version = str(connection.execute("PRAGMA version").fetchall()[0][0])
    for name in EXTENSIONS:
        try:
            module = importlib.import_module(f"duckdb_extension_{name}")
        except ImportError:
            raise DuckLakeError(
                f"the DuckDB extension wheel duckdb-extension-{name} is not installed:"
                " install the project with its 'scale' extra (pip install -e '.[scale]')"
            ) from None
        path = (
            Path(next(iter(module.__path__))) / "extensions" / version / f"{name}.duckdb_extension"
        )
        if not path.is_file():
            raise DuckLakeError(
                f"duckdb-extension-{name} has no build for DuckDB {version} ({path}): install"
                " the versions the 'scale' extra pins"
            )
        connection.execute(f"INSTALL {quote_literal(str(path))}")
        connection.execute(f"LOAD {_LOADED_NAMES[name]}")


@contextmanager
def ddl_lock(settings: DuckLakeSettings) -> Iterator[None]:
    """Hold the catalog's advisory lock (waiting up to ``DDL_LOCK_TIMEOUT_SECONDS``)."""
    import psycopg2  # comes with the scale extra (dagster-postgres)

    try:
        pg = psycopg2.connect(settings.catalog, connect_timeout=10)
    except psycopg2.Error as error:
        raise DuckLakeError(
            f"cannot reach the DuckLake catalog: {scrub(str(error), settings.catalog)}"
        ) from None
    try:
        pg.autocommit = True
        deadline = time.monotonic() + DDL_LOCK_TIMEOUT_SECONDS
        with pg.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (DDL_LOCK_KEY,))
                row = cursor.fetchone()
                if row and row[0]:
                    break
                if time.monotonic() > deadline:
                    raise DuckLakeError(
                        f"another process held the DuckLake catalog's DDL lock for more than"
                        f" {DDL_LOCK_TIMEOUT_SECONDS:g} s"
                    )
                time.sleep(DDL_LOCK_POLL_SECONDS)
        yield
    finally:
        pg.close()  # ends the session, which releases the lock


def attach(
    connection: duckdb.DuckDBPyConnection, settings: DuckLakeSettings, *, read_only: bool
) -> None:
    """Attach the lake as ``lake`` and make it the default database, in a UTC session."""
    options = f"DATA_PATH {quote_literal(settings.data_path)}"
    if read_only:
        options += ", READ_ONLY"
    target = quote_literal(f"ducklake:postgres:{settings.catalog}")
    try:
        connection.execute(f"ATTACH {target} AS {LAKE_ALIAS} ({options})")
    except duckdb.Error as error:
        raise DuckLakeError(
            f"cannot attach the DuckLake ({settings.describe()}):"
            f" {scrub(str(error), settings.catalog)}"
        ) from None
    connection.execute(f"USE {LAKE_ALIAS}")
    connection.execute(f"SET TimeZone = {quote_literal(SESSION_TIME_ZONE)}")


@contextmanager
def connect_ducklake(
    settings: DuckLakeSettings, *, read_only: bool
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB session with the lake attached (read-only or not); always closed."""
    connection = duckdb.connect()
    try:
        load_extensions(connection)
        if read_only:
            attach(connection, settings, read_only=True)
        else:
            with ddl_lock(settings):  # the first ATTACH creates the catalog's tables
                attach(connection, settings, read_only=False)
        yield connection
    finally:
        connection.close()


def is_conflict(error: BaseException) -> bool:
    """Whether a failed write lost DuckLake's conflict check (and may simply be retried)."""
    seen: BaseException | None = error
    while seen is not None:
        if CONFLICT_TEXT in str(seen):
            return True
        seen = seen.__cause__
    return False


def conflict_delay(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th conflict (1-based): doubling, capped, jittered."""
    base = min(MAX_CONFLICT_DELAY_SECONDS, FIRST_CONFLICT_DELAY_SECONDS * 2 ** (attempt - 1))
    return base * random.uniform(0.5, 1.5)


def settings_from_config(resource_config: dict[str, Any]) -> DuckLakeSettings:
    return DuckLakeSettings(
        catalog=str(resource_config["ducklake_catalog"]),
        data_path=str(resource_config["ducklake_data_path"]),
    )


class DuckLakeClient(WarehouseDuckDbClient):
    """The warehouse client on DuckLake: same SQL, lake attached as the default database."""

    @staticmethod
    @contextmanager
    def connect(
        context: OutputContext | InputContext, table_slice: TableSlice
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Read-only for loads; a write is one transaction, serialized with other DDL when its
        table does not exist yet (the first write creates schema and table)."""
        settings = settings_from_config(dict(context.resource_config or {}))
        is_write = isinstance(context, OutputContext)
        with connect_ducklake(settings, read_only=not is_write) as connection:
            if not is_write:
                with read_session(connection, context.resource_config or {}, table_slice):
                    yield connection
                return
            output = cast("OutputContext", context)
            if table_exists(connection, table_slice.schema, table_slice.table):
                with write_transaction(connection, output, table_slice):
                    yield connection
                return
            with ddl_lock(settings), write_transaction(connection, output, table_slice):
                yield connection


class RetryingDbIOManager(DbIOManager):
    """Retries a partition replace that lost a DuckLake conflict, as a whole new transaction."""

    def handle_output(self, context: OutputContext, obj: object) -> None:
        attempt = 1
        while True:
            try:
                super().handle_output(context, obj)
                break
            except WarehouseWriteError as error:
                if not is_conflict(error):
                    raise
                name = _slice_name(context)
                if attempt >= MAX_WRITE_ATTEMPTS:
                    raise WarehouseWriteError(
                        f"Writing {name} lost DuckLake's conflict check {attempt} times in a row:"
                        " other runs kept writing the same table at the same moment. Nothing"
                        " was written (the table keeps its previous rows); re-run the step, or"
                        " lower ETL_MAX_CONCURRENT_RUNS."
                    ) from error
                delay = conflict_delay(attempt)
                context.log.warning(
                    f"Writing {name}: transaction conflict with another writer of the table"
                    f" (attempt {attempt} of {MAX_WRITE_ATTEMPTS}); retrying the whole"
                    f" partition replace in {delay:.2f} s"
                )
                time.sleep(delay)
                attempt += 1
        context.add_output_metadata({RETRIES_METADATA_KEY: attempt - 1})


def _slice_name(context: OutputContext) -> str:
    name = context.asset_key.to_user_string() if context.has_asset_key else context.name
    if context.has_partition_key:
        return f"{name} (partition {context.partition_key})"
    return name
