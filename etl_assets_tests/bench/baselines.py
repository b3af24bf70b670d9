"""The comparison points of the benchmark: a plain API client, the tutorial's way, the floor.

Each ``run_*`` reads one UTC day from the demo API at ``url`` and returns its wall time and the
orders of its final table (distinct order_ids, sum of amount).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import duckdb
import orjson
import pandas as pd
import pyarrow as pa
import requests

from etl_assets.transform import day_window

FLOOR_WINDOWS = 4  # sub-windows of the day the floor fetches in parallel threads
PAGE_SIZE = 1000


def first_url(url: str, start: datetime, end: datetime) -> str:
    query = {"start": start.isoformat().replace("+00:00", "Z"), "page_size": PAGE_SIZE}
    query["end"] = end.isoformat().replace("+00:00", "Z")
    return f"{url}/orders?{urlencode(query, safe=':')}"


def final_orders(connection: Any, sql: str) -> dict[str, float]:
    distinct, amount = connection.execute(sql).fetchone()
    return {"orders": int(distinct), "amount": float(amount or 0.0)}


# ------------------------------------------------------------------------------------------------
# api: how fast the demo serves a plain client


def run_api(url: str, day: date, workdir: Path) -> dict[str, Any]:
    start, end = day_window(day)
    elements, pages, link = 0, 0, first_url(url, start, end)
    began = time.perf_counter()
    with requests.Session() as session:
        while link:
            body = orjson.loads(session.get(link, timeout=60).content)
            elements, pages = elements + len(body["data"]), pages + 1
            link = body.get("next") and urljoin(url + "/", body["next"])
    return {"wall": time.perf_counter() - began, "elements": elements, "pages": pages}


# ------------------------------------------------------------------------------------------------
# tutorial: requests.get per page, pandas, drop_duplicates, to_sql into SQLite


def run_tutorial(url: str, day: date, workdir: Path) -> dict[str, Any]:
    from etl_assets.transform.sales import sales_rows

    # The per-element reference path: what a hand-written pandas cleaner does (row by row).
    clean: Callable[..., Any]
    try:
        from etl_assets_tests.reference_cleaner import clean_orders_reference as clean
    except ImportError:  # a checkout from before the fast path: clean_orders was per-element
        from etl_assets.transform import clean_orders as clean
    began = time.perf_counter()
    start, end = day_window(day)
    records: list[Any] = []
    lineage: list[tuple[int, int]] = []
    link, page = first_url(url, start, end), 0
    while link:
        body = requests.get(link, timeout=60).json()
        page += 1
        lineage += [(page, position) for position in range(len(body["data"]))]
        records += body["data"]
        link = body.get("next") and urljoin(url + "/", body["next"])
    raw = pd.DataFrame(lineage, columns=["_page", "_position"])
    raw["_record_index"] = range(len(raw))
    raw["payload"] = [json.dumps(record, ensure_ascii=False) for record in records]
    result = clean(raw, day)
    sales = sales_rows(result.clean, loaded_at=pd.Timestamp.now(tz="UTC"), run_id="tutorial")
    sales = sales.drop_duplicates()
    with sqlite3.connect(workdir / "tutorial.sqlite") as connection:
        sales.to_sql("sales_table", connection, if_exists="replace", index=False)
        result.rejected.to_sql("rejected_records", connection, if_exists="replace", index=False)
        connection.commit()
        wall = time.perf_counter() - began
        orders = final_orders(
            connection, "SELECT count(DISTINCT order_id), sum(amount) FROM sales_table"
        )
    return {"wall": wall, **orders}


# ------------------------------------------------------------------------------------------------
# floor: threaded fetch of sub-windows, DuckDB unnests the page bodies and cleans in one CTAS
# (pyarrow's JSON reader cannot be the parser here: it refuses a field that is a number on one
# row and a string on the next, which the demo's dirty data serves on purpose)

FLOOR_SQL = """
CREATE TABLE sales_table AS
WITH elems AS (
    SELECT w, page, unnest(l) AS e, unnest(range(len(l))) AS pos
    FROM (SELECT w, page, json_extract(body, '$.data[*]') AS l FROM bodies)
), fields AS MATERIALIZED (
    SELECT (w * 1000000 + page) * 100000 + pos AS seq, json_type(e) = 'OBJECT' AS is_object,
        json_extract_string(e, ['$.order_id', '$.quantity', '$.unit_price', '$.timestamp',
                                '$.updated_at']) AS f
    FROM elems
), checked AS (
    SELECT seq, TRY_CAST(f[1] AS BIGINT) AS order_id, TRY_CAST(f[2] AS BIGINT) AS quantity,
        TRY_CAST(f[3] AS DOUBLE) AS unit_price, TRY_CAST(f[4] AS TIMESTAMPTZ) AS ordered_at,
        TRY_CAST(f[5] AS TIMESTAMPTZ) AS updated_at, f[2] AS q, f[3] AS p, f[4] AS ts,
        f[5] AS up, is_object
    FROM fields
), valid AS (
    SELECT *, coalesce(epoch_us(updated_at)::HUGEINT, -(1::HUGEINT << 80)) * (1::HUGEINT << 40)
        + seq AS k
    FROM checked
    WHERE is_object AND order_id IS NOT NULL
      AND (q IS NULL OR quantity >= 1) AND (p IS NULL OR unit_price >= 0)
      AND (ts IS NULL OR (ordered_at >= $start AND ordered_at < $end))
      AND (up IS NULL OR updated_at IS NOT NULL)
), orders AS (
    SELECT order_id, arg_max(quantity, k) AS quantity, arg_max(unit_price, k) AS unit_price,
        arg_max(ordered_at, k) AS ordered_at
    FROM valid GROUP BY order_id
)
SELECT order_id, quantity, unit_price, quantity * unit_price AS amount, ordered_at
FROM orders WHERE ordered_at IS NOT NULL
"""


def _fetch_window(url: str, w: int, start: datetime, end: datetime) -> list[tuple[int, int, str]]:
    bodies, link, page = [], first_url(url, start, end), 0
    with requests.Session() as session:
        while link:
            text = session.get(link, timeout=60).text
            page += 1
            bodies.append((w, page, text))
            tail = text[text.rfind('"next":') + 7 : -1]  # the page's last key, as served
            link = None if tail == "null" else urljoin(url + "/", json.loads(tail))
    return bodies


def run_floor(url: str, day: date, workdir: Path) -> dict[str, Any]:
    began = time.perf_counter()
    start, end = day_window(day)
    step = (end - start) / FLOOR_WINDOWS
    bounds = [(start + step * k, start + step * (k + 1)) for k in range(FLOOR_WINDOWS)]
    with ThreadPoolExecutor(FLOOR_WINDOWS) as pool:
        parts = pool.map(lambda k: _fetch_window(url, k, *bounds[k]), range(FLOOR_WINDOWS))
        rows = [row for part in parts for row in part]
    fetched = time.perf_counter() - began
    w, pages, texts = zip(*rows, strict=True) if rows else ((), (), ())
    bodies = pa.table({"w": list(w), "page": list(pages), "body": pa.array(texts, pa.string())})
    del rows, texts
    with duckdb.connect(str(workdir / "floor.duckdb")) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("bodies", bodies)
        connection.execute(FLOOR_SQL, {"start": start, "end": end})
        wall = time.perf_counter() - began
        orders = final_orders(
            connection, "SELECT count(DISTINCT order_id), sum(amount) FROM sales_table"
        )
    return {"wall": wall, "fetch_seconds": fetched, **orders}
