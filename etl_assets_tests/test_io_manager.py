"""WarehouseIOManager against real DuckDB files, through real ``dg.materialize`` runs."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pydantic
import pytest

from etl_assets.warehouse import (
    WarehouseIOManager,
    WarehouseLockError,
    WarehouseMemoryError,
    WarehouseQuery,
    WarehouseSlice,
    WarehouseTableMissingError,
    WarehouseWriteError,
    connect_warehouse,
    duckdb_client,
    replace,
)
from etl_assets.warehouse.dagster_internals import TablePartitionDimension
from etl_assets.warehouse.sql_text import (
    partition_where_clause,
    quote_identifier,
)
from etl_assets_tests.support import record_sleeps
from etl_assets_tests.warehouse_support import (
    DAILY,
    RAW_SCHEMA,
    Source,
    metadata_of,
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


def test_rerun_replaces_only_its_partition_and_reports_metadata(db: Path) -> None:
    source: Source = {}
    asset = raw_asset(source)
    for day, ids in [("2026-11-20", [1, 2, 3]), ("2026-11-21", [4, 5]), ("2026-11-20", [6, 7])]:
        source["frame"] = orders(day, ids)
        result = run([asset], db, day)

    rows = query(
        db,
        "SELECT partition_date, list(order_id ORDER BY order_id) FROM raw.raw_records"
        " GROUP BY ALL ORDER BY 1",
    )
    assert rows == [(date(2026, 11, 20), [6, 7]), (date(2026, 11, 21), [4, 5])]
    metadata = metadata_of(result)
    assert metadata["dagster/row_count"] == 4
    assert metadata["dagster/partition_row_count"] == 2
    assert metadata["dagster/table_name"] == "raw.raw_records"
    schema = metadata["dagster/column_schema"]
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        (c.name, c.type, c.description) for c in RAW_SCHEMA.columns
    ]


def test_failed_writes_keep_old_rows_and_release_the_file(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source: Source = {"frame": orders("2026-11-20", [1, 2])}
    asset = raw_asset(source)
    run([asset], db, "2026-11-20")
    source["frame"] = orders("2026-11-20", [3]).assign(order_id=["not a number"])

    with pytest.raises(
        WarehouseWriteError,
        match=r"Writing raw\.raw_records \(partition "
        r"2026-11-20\) failed; the table keeps its previous rows: .*INT64",
    ):
        run([asset], db, "2026-11-20")

    assert query(db, "SELECT order_id FROM raw.raw_records ORDER BY 1") == [(1,), (2,)]
    child = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('CHECKPOINT').fetchall()"
    subprocess.run([sys.executable, "-c", child, str(db)], check=True, timeout=30)

    source["frame"] = orders("2026-11-20", [3])

    def explode(*_: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(replace, "_insert", explode)
    with pytest.raises(WarehouseWriteError, match="keeps its previous rows: disk on fire"):
        run([asset], db, "2026-11-20")
    assert query(db, "SELECT order_id FROM raw.raw_records ORDER BY 1") == [(1,), (2,)]


def test_a_query_output_replaces_its_partition_from_inside_the_warehouse(db: Path) -> None:
    source: Source = {"frame": pd.concat([orders("2026-11-20", [1, 2]), orders("2026-11-21", [3])])}
    upstream = raw_asset(source)
    select: dict[str, str] = {}

    @dg.asset(
        partitions_def=DAILY,
        deps=[upstream],
        metadata={"schema": "mart", "partition_expr": "partition_date"},
    )
    def doubled() -> WarehouseQuery:
        return WarehouseQuery(
            select["sql"],
            describe=lambda rows: {"ids": str(sorted(r[1] for r in rows.fetchall()))},
        )

    dg.materialize([upstream], resources={"io_manager": WarehouseIOManager(database=str(db))})
    day = "partition_date = DATE '2026-11-20'"
    select["sql"] = f"SELECT partition_date, order_id * 2 AS id FROM raw.raw_records WHERE {day}"
    result = run([doubled], db, "2026-11-20")
    assert query(db, "SELECT partition_date::VARCHAR, id FROM mart.doubled ORDER BY id") == [
        ("2026-11-20", 2),
        ("2026-11-20", 4),
    ]
    metadata = metadata_of(result, "doubled")
    assert (metadata["dagster/partition_row_count"], metadata["ids"]) == (2, "[2, 4]")

    select["sql"] = "SELECT partition_date, no_such_column AS id FROM raw.raw_records"
    with pytest.raises(WarehouseWriteError, match=r"keeps its previous rows: .*no_such_column"):
        run([doubled], db, "2026-11-20")
    assert query(db, "SELECT id FROM mart.doubled ORDER BY id") == [(2,), (4,)]


def test_empty_rerun_clears_only_that_partition(db: Path) -> None:
    source: Source = {}
    asset = raw_asset(source)
    for day in ("2026-11-20", "2026-11-21"):
        source["frame"] = orders(day, [1, 2])
        run([asset], db, day)
    source["frame"] = orders("2026-11-20", [])
    result = run([asset], db, "2026-11-20")
    assert query(db, "SELECT partition_date, count(*) FROM raw.raw_records GROUP BY 1") == [
        (date(2026, 11, 21), 2)
    ]
    assert metadata_of(result)["dagster/partition_row_count"] == 0


@pytest.fixture(params=["America/New_York", "Asia/Kolkata"])
def host_time_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if previous is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = previous
        time.tzset()


@pytest.mark.parametrize("column", ["partition_date", "created_at"])
def test_partition_slices_are_exact_in_any_host_time_zone(
    db: Path, host_time_zone: str, column: str
) -> None:
    assert time.localtime().tm_gmtoff != 0, f"TZ={host_time_zone} did not take effect"
    source: Source = {}
    asset = raw_asset(source, expr=column)
    edges = {"2026-11-19": "23:59:59", "2026-11-20": "00:00:00", "2026-11-21": "00:00:00"}
    for day, clock in edges.items():
        frame = orders(day, [int(day[-2:])])
        source["frame"] = frame.assign(created_at=pd.to_datetime([f"{day}T{clock}Z"], utc=True))
        run([asset], db, day)
    source["frame"] = orders("2026-11-20", [99]).assign(
        created_at=pd.to_datetime(["2026-11-20T23:59:59Z"], utc=True)
    )
    run([asset], db, "2026-11-20")

    assert query(db, "SELECT order_id FROM raw.raw_records ORDER BY 1") == [(19,), (21,), (99,)]
    with connect_warehouse(str(db), read_only=True) as connection:
        created = connection.execute("SELECT created_at FROM raw.raw_records").fetchdf()
    assert str(created["created_at"].dt.tz) == "UTC"


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


def test_a_partition_replace_counts_new_gone_and_changed_rows_by_the_change_key(
    db: Path,
) -> None:
    source: Source = {"frame": orders("2026-11-20", [1, 2, 3])}

    @dg.asset(
        partitions_def=DAILY,
        metadata={
            "schema": "raw",
            "partition_expr": "partition_date",
            "etl/change_key": "order_id:orders",
        },
    )
    def raw_records() -> pd.DataFrame:
        return source["frame"]

    def figures(result: dg.ExecuteInProcessResult) -> tuple[int, int, int]:
        [event] = result.get_asset_materialization_events()
        metadata = event.event_specific_data.materialization.metadata
        return tuple(metadata[f"orders_{k}"].value for k in ("new", "gone", "changed"))

    assert figures(run([raw_records], db, "2026-11-20")) == (3, 0, 0)
    source["frame"] = orders("2026-11-21", [7])
    assert figures(run([raw_records], db, "2026-11-21")) == (1, 0, 0)  # other day untouched
    changed = orders("2026-11-20", [2, 3, 4])
    changed.loc[changed["order_id"] == 3, "amount"] = 9.0
    source["frame"] = changed
    assert figures(run([raw_records], db, "2026-11-20")) == (1, 1, 1)  # 4 new, 1 gone, 3 changed
    assert figures(run([raw_records], db, "2026-11-20")) == (0, 0, 0)  # a re-run changes nothing
