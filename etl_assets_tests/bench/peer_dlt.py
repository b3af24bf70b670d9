"""The best peer: a dlt pipeline loading the day into DuckDB (``dlt[duckdb]``, the ``bench`` extra).

A dlt resource yields one Arrow table per page: the page's valid order versions, typed by DuckDB
with the floor's per-element SQL (``floor.VERSIONS_SQL``; pyarrow's JSON reader refuses the
demo's numbers served as strings). ``write_disposition="merge"`` on primary key ``order_id``
keeps each order's latest version (``dedup_sort`` on ``updated_at``). The three phases are timed
apart: extract (fetch + per-page typing + dlt writing its extract files), normalize, load.

What dlt does not do, and the pipeline does: keep the raw elements and the rejected ones with
their reasons, and fill a field the latest version lacks from an earlier version (dlt's merge
replaces whole rows; so a version without quantity, unit price or timestamp is dropped here,
which gives the same orders whenever no order needs such a fill, as on the demo's data).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from etl_assets_tests.bench.floor import (
    VERSIONS_SQL,
    PageReader,
    bodies_table,
    day_window,
)

PAGE_SQL = f"""
WITH elements AS (
    SELECT pos AS seq, e
    FROM (SELECT unnest(l) AS e, unnest(range(len(l))) AS pos
          FROM (SELECT json_extract(body, '$.data[*]') AS l FROM page))
), {VERSIONS_SQL}
SELECT order_id, customer_id, product, currency, status, region, quantity, unit_price,
    quantity * unit_price AS amount, ordered_at, CAST(ordered_at AS DATE) AS order_date, updated_at
FROM versions
WHERE ordered_at IS NOT NULL AND quantity IS NOT NULL AND unit_price IS NOT NULL
"""
DATASET = "mart"


def run_dlt(url: str, day: date, workdir: Path) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    began = time.perf_counter()
    import dlt

    imported = time.perf_counter()
    start, end = day_window(day)
    spent = {"fetch": 0.0, "type pages (DuckDB)": 0.0}
    typing = duckdb.connect()
    typing.execute("SET TimeZone = 'UTC'; SET threads = 1")
    page_sql = PAGE_SQL.replace("$start", f"'{start.isoformat()}'::TIMESTAMPTZ").replace(
        "$end", f"'{end.isoformat()}'::TIMESTAMPTZ"
    )

    @dlt.resource(
        name="sales_table",
        write_disposition="merge",
        primary_key="order_id",
        columns={"updated_at": {"dedup_sort": "desc"}},
    )
    def sales_table() -> Iterator[pa.Table]:
        with PageReader(url) as reader:
            pages = reader.pages(start, end)
            while True:
                fetching = time.perf_counter()
                body = next(pages, None)
                typed = time.perf_counter()
                spent["fetch"] += typed - fetching
                if body is None:
                    return
                typing.register("page", bodies_table([body]))
                table = typing.sql(page_sql).to_arrow_table()
                spent["type pages (DuckDB)"] += time.perf_counter() - typed
                yield table

    database = workdir / "dlt.duckdb"
    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name=DATASET,
        pipelines_dir=str(workdir / "dlt_pipelines"),
    )
    phases = {"import dlt": imported - began}
    marks = [time.perf_counter()]
    pipeline.extract(sales_table())
    marks.append(time.perf_counter())
    pipeline.normalize()
    marks.append(time.perf_counter())
    pipeline.load().raise_on_failed_jobs()
    marks.append(time.perf_counter())
    typing.close()
    phases["extract"] = marks[1] - marks[0]
    phases["  of which fetch"] = spent["fetch"]
    phases["  of which type pages (DuckDB)"] = spent["type pages (DuckDB)"]
    phases["normalize"] = marks[2] - marks[1]
    phases["load (merge into DuckDB)"] = marks[3] - marks[2]
    return {
        "seconds": marks[3] - marks[0],
        "stages": phases,
        "database": str(database),
        "table": f"{DATASET}.sales_table",
    }
