"""A process that replaces one day of one DuckLake table again and again (concurrency tests).

``python -m etl_assets_tests.scale.lake_writer CATALOG DATA_PATH DAY ROWS TIMES START_AT``
waits until the wall clock reaches START_AT (so that all writers start together), then
materializes the day TIMES times through WarehouseIOManager and prints one JSON line per write:
``{"day": ..., "retries": n}``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date

import dagster as dg
import pandas as pd

from etl_assets.warehouse import WarehouseIOManager

DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")
SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("partition_date", "DATE"),
        dg.TableColumn("order_id", "BIGINT"),
        dg.TableColumn("writer_pass", "INTEGER"),
    ]
)


def frame(day: str, rows: int, write: int) -> pd.DataFrame:
    base = date.fromisoformat(day).toordinal() * 100_000
    return pd.DataFrame(
        {
            "partition_date": [date.fromisoformat(day)] * rows,
            "order_id": range(base, base + rows),
            "writer_pass": [write] * rows,
        }
    )


def main(argv: list[str]) -> int:
    catalog, data_path, day, rows, times, start_at = argv
    state = {"write": 0}

    @dg.asset(
        partitions_def=DAILY,
        metadata={
            "schema": "raw",
            "partition_expr": "partition_date",
            "dagster/column_schema": SCHEMA,
        },
    )
    def contended() -> pd.DataFrame:
        return frame(day, int(rows), state["write"])

    manager = WarehouseIOManager(
        database=data_path,
        warehouse="ducklake",
        ducklake_catalog=catalog,
        ducklake_data_path=data_path,
    )
    time.sleep(max(0.0, float(start_at) - time.time()))
    for write in range(int(times)):
        state["write"] = write
        result = dg.materialize([contended], resources={"io_manager": manager}, partition_key=day)
        event = result.get_asset_materialization_events()[0]
        metadata = event.event_specific_data.materialization.metadata
        retries = metadata["warehouse_write_retries"].value
        print(json.dumps({"day": day, "retries": retries}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
