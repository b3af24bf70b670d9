"""WarehouseIOManager on DuckLake (catalog in a fresh PostgreSQL database, data in a temp folder):
the promises of the DuckDB file backend, plus concurrent writers on one table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb_extension_ducklake", reason="the 'scale' extra is not installed")

import dagster as dg
import pandas as pd

from etl_assets.scale.settings import DuckLakeSettings
from etl_assets.warehouse import WarehouseIOManager
from etl_assets.warehouse.ducklake import DuckLakeError, connect_ducklake, extension_directory
from etl_assets_tests.dagster_dev_server import REPO_ROOT
from etl_assets_tests.scale.services import FAKE_PASSWORD, fresh_databases, postgres_url

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")
SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("partition_date", "DATE"),
        dg.TableColumn("order_id", "BIGINT", constraints=dg.TableColumnConstraints(nullable=False)),
        dg.TableColumn("amount", "DOUBLE", tags={"duckdb/compression": "zstd"}),
        dg.TableColumn("created_at", "TIMESTAMP WITH TIME ZONE"),
    ]
)
WRITERS = 3
WRITES_PER_WRITER = 4
ROWS_PER_WRITE = 500
WRITER_TIMEOUT_SECONDS = 240


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[DuckLakeSettings]:
    with fresh_databases("catalog") as names:
        yield DuckLakeSettings(
            catalog=postgres_url(names["catalog"]), data_path=f"{tmp_path / 'lake'}/"
        )


def orders(day: str, ids: list[int], **extra: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partition_date": [date.fromisoformat(day)] * len(ids),
            "order_id": ids,
            "amount": [1.5] * len(ids),
            "created_at": pd.to_datetime([f"{day}T23:30:00Z"] * len(ids), utc=True),
            **extra,
        }
    )


def asset_of(source: dict[str, pd.DataFrame]) -> dg.AssetsDefinition:
    @dg.asset(
        partitions_def=DAILY,
        metadata={
            "schema": "raw",
            "partition_expr": "partition_date",
            "dagster/column_schema": SCHEMA,
        },
    )
    def lake_orders() -> pd.DataFrame:
        return source["frame"]

    return lake_orders


def run(asset: dg.AssetsDefinition, lake: DuckLakeSettings, day: str, **kw: Any):
    manager = WarehouseIOManager(
        database=lake.data_path,
        warehouse="ducklake",
        ducklake_catalog=lake.catalog,
        ducklake_data_path=lake.data_path,
    )
    return dg.materialize([asset], resources={"io_manager": manager}, partition_key=day, **kw)


def rows(lake: DuckLakeSettings, sql: str) -> list[tuple]:
    with connect_ducklake(lake, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_partition_replace_by_name_evolution_and_utc_deletes(
    lake: DuckLakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # a host clock far from UTC
    time.tzset()
    try:
        source = {"frame": orders("2025-03-01", [1, 2, 3])}
        asset = asset_of(source)
        first = run(asset, lake, "2025-03-01")
        assert first.success
        source["frame"] = orders("2025-03-02", [4, 5])
        assert run(asset, lake, "2025-03-02").success
        # The same day again, columns reordered and one added: replaced by name, evolved.
        frame = orders("2025-03-01", [7, 8], channel=["web", "shop"])
        source["frame"] = frame[list(reversed(frame.columns))]
        again = run(asset, lake, "2025-03-01")
        assert again.success
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert rows(
        lake,
        "SELECT CAST(partition_date AS VARCHAR), list(order_id ORDER BY order_id),"
        " list(channel ORDER BY order_id) FROM raw.lake_orders GROUP BY 1 ORDER BY 1",
    ) == [("2025-03-01", [7, 8], ["web", "shop"]), ("2025-03-02", [4, 5], [None, None])]
    types = dict(rows(lake, "SELECT column_name, column_type FROM (DESCRIBE raw.lake_orders)"))
    assert types["order_id"] == "BIGINT" and types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    metadata = again.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["warehouse_write_retries"].value == 0
    assert metadata["dagster/partition_row_count"].value == 2


def test_empty_first_frame_creates_the_typed_table(lake: DuckLakeSettings) -> None:
    source = {"frame": orders("2025-03-01", [])}
    assert run(asset_of(source), lake, "2025-03-01").success
    types = dict(rows(lake, "SELECT column_name, column_type FROM (DESCRIBE raw.lake_orders)"))
    assert types == {
        "partition_date": "DATE",
        "order_id": "BIGINT",
        "amount": "DOUBLE",
        "created_at": "TIMESTAMP WITH TIME ZONE",
    }


def test_text_in_arrow_buffers_is_written_without_a_warning(lake: DuckLakeSettings) -> None:
    """The contracts build frames whose text is ``string[pyarrow]`` (rejected_records): DuckDB
    1.5's pandas scan read such columns by a name pandas 2.3 deprecates, a FutureWarning on
    every write; they go to DuckDB as Arrow."""
    frame = orders("2025-03-01", [1, 2], note=["a", None])
    frame["note"] = frame["note"].astype("string[pyarrow]")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(asset_of({"frame": frame}), lake, "2025-03-01").success
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []
    assert rows(lake, "SELECT order_id, note FROM raw.lake_orders ORDER BY 1") == [
        (1, "a"),
        (2, None),
    ]


def test_a_failed_write_keeps_the_old_rows(lake: DuckLakeSettings) -> None:
    source = {"frame": orders("2025-03-01", [1, 2])}
    asset = asset_of(source)
    assert run(asset, lake, "2025-03-01").success
    source["frame"] = orders("2025-03-01", [1, 2]).assign(order_id=["3", "not a number"])
    result = run(asset, lake, "2025-03-01", raise_on_error=False)
    assert not result.success
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "WarehouseWriteError" in error.to_string()
    assert rows(lake, "SELECT list(order_id ORDER BY order_id) FROM raw.lake_orders") == [([1, 2],)]


def test_errors_never_show_the_catalog_password(tmp_path: Path) -> None:
    unreachable = DuckLakeSettings(
        catalog=f"postgresql://postgres:{FAKE_PASSWORD}@127.0.0.1:1/nowhere",
        data_path=f"{tmp_path}/",
    )
    with pytest.raises(DuckLakeError) as caught, connect_ducklake(unreachable, read_only=True):
        pass
    assert FAKE_PASSWORD not in str(caught.value)
    assert "***" in str(caught.value)


def test_extensions_load_from_the_wheels_into_our_folder(lake: DuckLakeSettings) -> None:
    with connect_ducklake(lake, read_only=False) as connection:
        loaded = dict(
            connection.execute(
                "SELECT extension_name, install_path FROM duckdb_extensions() WHERE loaded"
                " AND extension_name IN ('ducklake', 'postgres_scanner')"
            ).fetchall()
        )
    assert set(loaded) == {"ducklake", "postgres_scanner"}
    assert all(path.startswith(str(extension_directory())) for path in loaded.values())
    assert not str(extension_directory()).startswith(str(Path.home() / ".duckdb"))


def test_concurrent_writers_of_one_table_all_end_correct(
    lake: DuckLakeSettings, tmp_path: Path
) -> None:
    """Several processes replace different days of one table at once, on an empty catalog:
    the first DDL is serialized, conflicts are retried whole, every day ends exact."""
    days = [f"2025-04-0{n + 1}" for n in range(WRITERS)]
    start_at = time.time() + 8  # all writers loaded before the first write
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "etl_assets_tests.scale.lake_writer",
                lake.catalog,
                lake.data_path,
                day,
                str(ROWS_PER_WRITE),
                str(WRITES_PER_WRITER),
                str(start_at),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO_ROOT,
        )
        for day in days
    ]
    outputs = [w.communicate(timeout=WRITER_TIMEOUT_SECONDS) for w in writers]
    for writer, (_, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err.decode()[-3000:]
    reports = [json.loads(line) for out, _ in outputs for line in out.decode().splitlines()]
    assert len(reports) == WRITERS * WRITES_PER_WRITER
    retries = sum(r["retries"] for r in reports)
    logged = sum(err.decode().count("transaction conflict") for _, err in outputs)
    print(f"{retries} conflict retries over {len(reports)} writes; {logged} logged")
    assert logged == retries  # every retry is in the log and in the metadata
    assert rows(
        lake,
        "SELECT CAST(partition_date AS VARCHAR), count(*), count(DISTINCT order_id),"
        " min(writer_pass), max(writer_pass) FROM raw.contended GROUP BY 1 ORDER BY 1",
    ) == [(day, ROWS_PER_WRITE, ROWS_PER_WRITE, WRITES_PER_WRITER - 1, WRITES_PER_WRITER - 1)
          for day in days]  # fmt: skip


@pytest.mark.parametrize("conflicts", [1, 3])
def test_a_lost_conflict_is_retried_whole_and_counted(
    lake: DuckLakeSettings, monkeypatch: pytest.MonkeyPatch, conflicts: int
) -> None:
    """Another writer commits a different day of the table while our replace is open: DuckLake
    refuses our COMMIT ("Transaction conflict"); the whole replace runs again and succeeds, or,
    when the conflicts outlast the attempts, fails clearly with nothing written."""
    from etl_assets.warehouse import ducklake
    from etl_assets.warehouse.rows_handler import WarehouseRowsTypeHandler

    monkeypatch.setattr(ducklake, "MAX_WRITE_ATTEMPTS", 3)
    monkeypatch.setattr(ducklake, "conflict_delay", lambda attempt: 0.01)

    source = {"frame": orders("2025-03-02", [20, 21])}
    asset = asset_of(source)
    assert run(asset, lake, "2025-03-02").success
    original = WarehouseRowsTypeHandler.handle_output
    interfering = {"left": conflicts}

    def handle_then_interfere(self, context, table_slice, obj, connection):  # type: ignore[no-untyped-def]
        metadata = original(self, context, table_slice, obj, connection)
        if interfering["left"]:
            interfering["left"] -= 1
            with connect_ducklake(lake, read_only=False) as other:
                other.execute("BEGIN")
                other.execute(
                    "DELETE FROM raw.lake_orders WHERE partition_date = DATE '2025-03-02'"
                )
                other.execute(
                    "INSERT INTO raw.lake_orders (partition_date, order_id)"
                    " VALUES (DATE '2025-03-02', 22)"
                )
                other.execute("COMMIT")
        return metadata

    monkeypatch.setattr(WarehouseRowsTypeHandler, "handle_output", handle_then_interfere)
    source["frame"] = orders("2025-03-01", [1, 2])
    result = run(asset, lake, "2025-03-01", raise_on_error=False)
    by_day = rows(
        lake,
        "SELECT CAST(partition_date AS VARCHAR), list(order_id ORDER BY order_id)"
        " FROM raw.lake_orders GROUP BY 1 ORDER BY 1",
    )
    if conflicts == 1:
        assert result.success
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
        assert metadata["warehouse_write_retries"].value == 1
        assert by_day == [("2025-03-01", [1, 2]), ("2025-03-02", [22])]
        return
    assert not result.success
    error = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "lost DuckLake's conflict check 3 times" in error.to_string()
    assert by_day == [("2025-03-02", [22])]  # nothing of 2025-03-01 was written
