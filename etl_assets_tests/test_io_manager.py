"""WarehouseIOManager against real DuckDB files, through real ``dg.materialize`` runs: what a
write replaces, in any host time zone, and what it reports (sessions, locks, memory and types:
test_warehouse_sessions.py)."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from etl_assets.warehouse import (
    WarehouseIOManager,
    WarehouseQuery,
    WarehouseWriteError,
    connect_warehouse,
    replace,
)
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


def test_an_arrow_table_is_written_by_name_and_read_back_as_arrow(db: Path) -> None:
    """A DuckDB result handed on as Arrow (clean_records) is written like a DataFrame: by column
    name, declared types, its partition replaced; a ``pa.Table`` input reads it back as Arrow."""
    source: dict[str, pa.Table] = {}
    seen: list[pa.Table] = []

    @dg.asset(
        partitions_def=DAILY,
        metadata={"schema": "raw", "partition_expr": "partition_date",
                  "dagster/column_schema": RAW_SCHEMA},
    )  # fmt: skip
    def raw_records() -> pa.Table:
        return source["rows"]

    @dg.asset(partitions_def=DAILY, metadata={"schema": "mart"})
    def reader(raw_records: pa.Table) -> None:
        seen.append(raw_records)

    for day, ids in [("2026-11-20", [1, 2, 3]), ("2026-11-21", [4]), ("2026-11-20", [6, 7])]:
        frame = orders(day, ids)
        # Columns in another order than the table's, and one it does not declare yet.
        source["rows"] = pa.Table.from_pandas(
            frame[["order_id", "created_at", "amount", "partition_date"]].assign(note="n"),
            preserve_index=False,
        )
        result = run([raw_records, reader], db, day)

    rows = query(
        db,
        "SELECT partition_date, list(order_id ORDER BY order_id), any_value(note)"
        " FROM raw.raw_records GROUP BY ALL ORDER BY 1",
    )
    assert rows == [(date(2026, 11, 20), [6, 7], "n"), (date(2026, 11, 21), [4], "n")]
    assert types_of(db, "raw.raw_records") == {
        "partition_date": "DATE",
        "order_id": "BIGINT",
        "amount": "DOUBLE",
        "created_at": "TIMESTAMP WITH TIME ZONE",
        "note": "VARCHAR",
    }
    assert metadata_of(result)["dagster/partition_row_count"] == 2
    assert isinstance(seen[-1], pa.Table)
    assert sorted(seen[-1].column("order_id").to_pylist()) == [6, 7]

    source["rows"] = pa.table({"order_id": [8], "ORDER_ID": [9]})
    with pytest.raises(
        WarehouseWriteError, match=r"keeps its previous rows: Table has duplicate column names"
    ):
        run([raw_records], db, "2026-11-20")
    assert query(db, "SELECT count(*) FROM raw.raw_records") == [(3,)]


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

    # describe sees the partition just written, not the rest of the table
    next_day = day.replace("2026-11-20", "2026-11-21")
    select["sql"] = (
        f"SELECT partition_date, order_id * 2 AS id FROM raw.raw_records WHERE {next_day}"
    )
    assert metadata_of(run([doubled], db, "2026-11-21"), "doubled")["ids"] == "[6]"


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
