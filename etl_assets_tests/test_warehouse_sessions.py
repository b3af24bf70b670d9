"""The warehouse's sessions against real DuckDB files: SQL text, UTC and read-only sessions, lock
conflicts, memory limits, and names and types that round-trip through real ``dg.materialize``
runs."""

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pydantic
import pytest

from etl_assets.warehouse import (
    WarehouseIOManager,
    WarehouseLockError,
    WarehouseMemoryError,
    WarehouseSlice,
    WarehouseTableMissingError,
    WarehouseWriteError,
    connect_warehouse,
    duckdb_client,
)
from etl_assets.warehouse.dagster_internals import TablePartitionDimension
from etl_assets.warehouse.sql_text import (
    partition_where_clause,
    quote_identifier,
)
from etl_assets_tests.support import record_sleeps
from etl_assets_tests.warehouse_support import (
    DAILY,
    Source,
    orders,
    query,
    raw_asset,
    run,
    types_of,
)

HOLD_LOCK = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
    " time.sleep(60)"
)


def test_sql_helpers_quote_and_use_utc_literals() -> None:
    assert quote_identifier('we"ird') == '"we""ird"'
    window = DAILY.time_window_for_partition_key("2026-11-20")
    dims = [TablePartitionDimension("partition_date", window)]
    assert partition_where_clause(dims) == (
        "(\"partition_date\" >= TIMESTAMPTZ '2026-11-20 00:00:00+00:00'"
        " AND \"partition_date\" < TIMESTAMPTZ '2026-11-21 00:00:00+00:00')"
    )
    static = [TablePartitionDimension("CAST(r AS TEXT)", ["o'b"])]
    assert partition_where_clause(static) == "(CAST(r AS TEXT) IN ('o''b'))"


def test_connect_warehouse_is_utc_read_only_and_shares_this_process_writer(db: Path) -> None:
    with connect_warehouse(str(db), read_only=False) as connection:
        connection.execute("CREATE TABLE t AS SELECT 1 AS x")
    with connect_warehouse(str(db), read_only=True) as connection:
        assert connection.execute("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
        with pytest.raises(duckdb.Error, match="read-only"):
            connection.execute("CREATE TABLE u (x INT)")
    writer = duckdb.connect(str(db))
    try:
        with connect_warehouse(str(db), read_only=True) as connection:
            assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        writer.close()


def test_lock_conflict_fails_fast_naming_the_holder(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        source: Source = {"frame": orders("2026-11-20", [1])}
        waits = record_sleeps(monkeypatch, duckdb_client)
        started = time.monotonic()
        with pytest.raises(WarehouseLockError) as failure:
            run([raw_asset(source)], db, "2026-11-20", lock_timeout_seconds=1)
        assert time.monotonic() - started >= 0.9  # it waited for the lock timeout ...
        assert len(waits) >= 2 and sum(waits) <= 1  # ... retrying, and not a wait beyond it
    finally:
        holder.kill()
        holder.wait()
    assert f"PID {holder.pid}" in str(failure.value)
    assert str(db) in str(failure.value)


def test_odd_identifiers_round_trip(db: Path) -> None:
    source: Source = {"frame": pd.DataFrame({"select": [1], "with space": ["a"], 'quo"te': [2.0]})}
    loaded: dict[str, pd.DataFrame] = {}

    @dg.asset(metadata={"schema": 'odd "schema'})
    def odd() -> pd.DataFrame:
        return source["frame"]

    @dg.asset(metadata={"schema": "mart"})
    def reader(odd: pd.DataFrame) -> pd.DataFrame:
        loaded["frame"] = odd
        return odd

    run([odd, reader], db)
    source["frame"] = source["frame"][['quo"te', "select", "with space"]]
    run([odd, reader], db)
    assert loaded["frame"].to_dict("records") == [{"select": 1, "with space": "a", 'quo"te': 2.0}]


def test_loading_a_missing_table_says_what_to_materialize(db: Path) -> None:
    raw = raw_asset({})

    @dg.asset(partitions_def=DAILY, metadata={"schema": "staging", "partition_expr": "d"})
    def clean(raw_records: pd.DataFrame) -> pd.DataFrame:
        return raw_records

    manager = WarehouseIOManager(database=str(db))
    with pytest.raises(
        WarehouseTableMissingError,
        match=r"Table raw\.raw_records does not exist"
        r" in .*warehouse\.duckdb: materialize raw_records first",
    ):
        dg.materialize(
            [raw, clean],
            selection=[clean],
            resources={"io_manager": manager},
            partition_key="2026-11-20",
        )


def test_text_round_trips_in_arrow_buffers_and_ints_keep_nulls(db: Path) -> None:
    source: Source = {}

    @dg.asset(metadata={"schema": "mart"})
    def labels() -> pd.DataFrame:
        return source["frame"]

    @dg.asset(metadata={"schema": "mart"})
    def copies(labels: pd.DataFrame) -> pd.DataFrame:
        source["loaded"] = labels
        return labels

    source["frame"] = pd.DataFrame(
        {
            "note": pd.array(["Zürich", None, "x"], dtype="string[pyarrow]"),
            "count": pd.array([1, None, 3], dtype="Int64"),
            "kind": pd.Categorical(["a", "b", "a"]),
        }
    )
    assert run([labels, copies], db).success
    loaded = source["loaded"].sort_values("note", na_position="last").reset_index(drop=True)
    assert loaded["note"].dtype == pd.StringDtype("pyarrow")
    assert loaded["note"].tolist()[:2] == ["Zürich", "x"] and pd.isna(loaded["note"][2])
    assert str(loaded["count"].dtype) == "Int64"
    assert loaded["kind"].tolist() == ["a", "a", "b"]
    assert types_of(db, "mart.copies") == {"note": "VARCHAR", "count": "BIGINT", "kind": "VARCHAR"}


def test_a_malformed_write_memory_limit_is_refused_by_name(db: Path) -> None:
    @dg.asset
    def anything() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    with pytest.raises(pydantic.ValidationError, match="write_memory_limit"):
        run([anything], db, write_memory_limit="lots")
    assert run([anything], db, write_memory_limit="64MB").success


def test_a_step_working_where_its_input_is_stored_gets_the_memory_limit(db: Path) -> None:
    """A WarehouseSlice session is capped like a write (uncapped, DuckDB takes up to 80 % of
    RAM), and work beyond the cap fails with an error that names the setting to raise."""
    source = {"frame": orders("2026-11-20", [1, 2, 3])}
    seen: list[str] = []

    @dg.asset(partitions_def=DAILY, ins={"raw_records": dg.AssetIn()})
    def uses_the_slice(raw_records: WarehouseSlice) -> None:
        with raw_records.open() as (connection, rows):
            [(limit,)] = connection.sql("SELECT current_setting('memory_limit')").fetchall()
            seen.append(str(limit))
            assert len(rows.fetchall()) == 3
            connection.sql("SELECT list(i) FROM range(5000000) t(i)").fetchall()

    assets = [raw_asset(source), uses_the_slice]
    with pytest.raises(WarehouseMemoryError) as raised:
        run(assets, db, "2026-11-20", write_memory_limit="16MB")
    assert seen and seen[0].startswith("15.") and seen[0].endswith("MiB")  # DuckDB's 16MB
    message = str(raised.value)
    assert "working on raw.raw_records within its limit of 16MB" in message
    assert "raise write_memory_limit" in message and "Out of Memory Error" in message
    assert "Possible solutions" not in message
    assert run([raw_asset(source)], db, "2026-11-20").success  # the table was written first


def test_a_write_beyond_the_memory_limit_names_the_setting_and_loads_stay_whole(
    db: Path,
) -> None:
    """4 MB of text cannot be written within 1MB: the error says which setting to raise and
    the table keeps its rows. A DataFrame load in a session capped the same way still reads
    every row (its result is not held in DuckDB's buffer pool)."""
    frame = orders("2026-11-20", list(range(2000)))
    frame["note"] = ["x" * 2000] * len(frame)
    source = {"frame": frame}
    loaded: list[int] = []

    @dg.asset(partitions_def=DAILY, ins={"raw_records": dg.AssetIn()})
    def loads_it(raw_records: pd.DataFrame) -> None:
        loaded.append(int(raw_records["note"].str.len().sum()))

    assert run([raw_asset(source)], db, "2026-11-20").success
    source["frame"] = frame.assign(note="y" * 3000)
    with pytest.raises(WarehouseWriteError, match=r"raise write_memory_limit, now 1MB"):
        run([raw_asset(source)], db, "2026-11-20", write_memory_limit="1MB")
    assert query(db, "SELECT count(*), sum(length(note)) FROM raw.raw_records") == [
        (2000, 2000 * 2000)
    ]
    small = WarehouseIOManager(database=str(db), write_memory_limit="1MB")
    dg.materialize(
        [raw_asset(source), loads_it],
        selection=[loads_it],
        resources={"io_manager": small},
        partition_key="2026-11-20",
    )
    assert loaded == [2000 * 2000]
