"""A write over several partitions: each partition's materialization gets its own figures."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from etl_assets.warehouse import WarehouseIOManager
from etl_assets.warehouse.per_partition import PartitionBuckets, with_zeros

DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC")


def daily_buckets(first: str, days: int) -> PartitionBuckets:
    start = date.fromisoformat(first)
    keys = [(start + timedelta(days=n)).isoformat() for n in range(days)]
    return PartitionBuckets("d", tuple((k, DAILY.time_window_for_partition_key(k)) for k in keys))


def keys_of(buckets: PartitionBuckets, values: list[object], sql_type: str) -> list[str | None]:
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        rows = connection.execute(
            f"SELECT {buckets.key_sql('v')} FROM (SELECT unnest($1::{sql_type}[]) AS v)",
            [values],
        ).fetchall()
    return [key for (key,) in rows]


@pytest.mark.parametrize("days", [2, 40, 400])
def test_a_rows_partition_key_is_found_by_arithmetic_over_days(days: int) -> None:
    buckets = daily_buckets("2026-03-01", days)  # a range across the spring DST date, in UTC
    first, after = date(2026, 3, 1), date(2026, 3, 1) + timedelta(days=days)
    dates = [first - timedelta(days=1), first, first + timedelta(days=days - 1), after]
    assert keys_of(buckets, dates, "DATE") == [None, "2026-03-01", buckets.keys[-1], None]
    moments = [
        datetime(2026, 2, 28, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 0, 0, 0, 1, tzinfo=UTC) if days > 1 else None,
        datetime.combine(after, datetime.min.time(), UTC) - timedelta(microseconds=1),
        datetime.combine(after, datetime.min.time(), UTC),
    ]
    assert keys_of(buckets, moments, "TIMESTAMPTZ") == [
        None,
        "2026-03-01",
        "2026-03-02",
        buckets.keys[-1],
        None,
    ]


def test_windows_of_different_lengths_are_matched_one_by_one() -> None:
    hourly = dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0,6 * * *", start="2026-01-01-00:00", fmt="%Y-%m-%d-%H:%M"
    )
    keys = ["2026-01-01-00:00", "2026-01-01-06:00"]  # 6 hours, then 18
    buckets = PartitionBuckets(
        "d", tuple((k, hourly.time_window_for_partition_key(k)) for k in keys)
    )
    moments = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (0, 5, 6, 23)]
    moments.append(datetime(2026, 1, 2, tzinfo=UTC))
    assert keys_of(buckets, moments, "TIMESTAMPTZ") == [keys[0], keys[0], keys[1], keys[1], None]


def test_a_partition_lacking_a_figure_of_the_write_shows_zero_not_the_total() -> None:
    totals = {"orders": 3, "revenue_EUR": 12.5, "revenue_USD": 4.0, "preview": "…"}
    assert with_zeros(totals, {"orders": 1, "revenue_EUR": 12.5}) == {
        "orders": 1,
        "revenue_EUR": 12.5,
        "revenue_USD": 0.0,
    }


def frame(*days_and_ids: tuple[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "d": [date.fromisoformat(day) for day, _ in days_and_ids],
            "order_id": [order_id for _, order_id in days_and_ids],
            "amount": [1.0] * len(days_and_ids),
        }
    )


def test_a_range_run_records_each_days_rows_and_changes(tmp_path: Path) -> None:
    source = {"frame": frame(("2026-11-18", 1), ("2026-11-18", 2), ("2026-11-20", 3))}

    @dg.asset(
        partitions_def=DAILY,
        metadata={"schema": "s", "partition_expr": "d", "etl/change_key": "order_id:orders"},
    )
    def table() -> pd.DataFrame:
        return source["frame"]

    def run() -> dict[str, tuple[int, int, int, int]]:
        result = dg.materialize(
            [table],
            resources={"io_manager": WarehouseIOManager(database=str(tmp_path / "w.duckdb"))},
            tags={
                "dagster/asset_partition_range_start": "2026-11-18",
                "dagster/asset_partition_range_end": "2026-11-20",
            },
        )
        found = {}
        for event in result.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            metadata = {k: v.value for k, v in materialization.metadata.items()}
            names = ("dagster/partition_row_count", "orders_new", "orders_gone", "orders_changed")
            found[materialization.partition] = tuple(metadata[name] for name in names)
        return found

    assert run() == {
        "2026-11-18": (2, 2, 0, 0),
        "2026-11-19": (0, 0, 0, 0),
        "2026-11-20": (1, 1, 0, 0),
    }
    source["frame"] = frame(("2026-11-18", 1), ("2026-11-19", 2), ("2026-11-20", 3))
    source["frame"].loc[2, "amount"] = 9.0
    assert run() == {  # order 2 moved from the 18th to the 19th; order 3 changed
        "2026-11-18": (1, 0, 1, 0),
        "2026-11-19": (1, 1, 0, 0),
        "2026-11-20": (1, 0, 0, 1),
    }


def test_a_range_written_outside_a_run_still_writes(tmp_path: Path) -> None:
    """``build_output_context`` (a unit test of the IO manager) has no step to give per-day
    figures to: the write itself goes ahead."""
    database = str(tmp_path / "w.duckdb")
    with dg.build_init_resource_context() as init:
        manager = WarehouseIOManager(database=database).create_io_manager(init)
    context = dg.build_output_context(
        asset_key=["s", "t"],
        definition_metadata={"partition_expr": "d"},
        asset_partitions_def=DAILY,
        asset_partition_key_range=dg.PartitionKeyRange("2026-11-18", "2026-11-19"),
        resource_config={"database": database},
    )
    manager.handle_output(context, frame(("2026-11-18", 1), ("2026-11-19", 2)))
    with duckdb.connect(database, read_only=True) as connection:
        assert connection.execute("SELECT order_id FROM s.t ORDER BY 1").fetchall() == [(1,), (2,)]
