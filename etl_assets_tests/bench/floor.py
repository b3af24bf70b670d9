"""The floor: the least work that gives the same orders (http.client + orjson + Arrow + DuckDB).

Four threads each fetch a quarter of the day over one keep-alive ``http.client`` connection;
orjson reads each page's ``next`` link; the page bodies, untouched, become one Arrow text column;
one DuckDB ``CREATE TABLE AS`` unnests, types, validates, keeps each order's latest version
(filling its gaps from earlier versions) and computes ``amount``.

Also here, as they share the fetch and the typing: ``api`` (a plain client reading the day: how
fast the demo serves) and the per-element SQL the dlt variant runs on each page.

This module imports only the standard library, orjson, pyarrow and duckdb, so that a variant's
whole process pays for nothing else.
"""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import duckdb
import numpy as np
import orjson
import pyarrow as pa

FLOOR_WINDOWS = 4  # sub-windows of the day the floor fetches in parallel threads
PAGE_SIZE = 1000
HTTP_TIMEOUT_SECONDS = 60


def day_window(day: date) -> tuple[datetime, datetime]:
    """[day 00:00Z, day+1 00:00Z), as the pipeline's daily partition (without importing it)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def first_url(url: str, start: datetime, end: datetime) -> str:
    query = {"start": start.isoformat().replace("+00:00", "Z"), "page_size": PAGE_SIZE}
    query["end"] = end.isoformat().replace("+00:00", "Z")
    return f"{url}/orders?{urlencode(query, safe=':')}"


def next_link(body: bytes) -> str | None:
    """The page's ``next`` link, read by orjson from the body's tail when ``next`` is its last
    key (as the demo serves it: no need to parse a thousand records for it), else from the
    whole body."""
    at = body.rfind(b'"next":')
    if at >= 0 and body.endswith(b"}"):
        try:
            return orjson.loads(body[at + 7 : -1])
        except orjson.JSONDecodeError:
            pass
    return orjson.loads(body).get("next")


class PageReader:
    """GETs on one keep-alive connection to the API's host; bodies as bytes."""

    def __init__(self, url: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        self._base = url
        self._connection = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )

    def __enter__(self) -> PageReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()

    def get(self, link: str) -> bytes:
        parts = urlsplit(urljoin(self._base + "/", link))
        self._connection.request("GET", f"{parts.path}?{parts.query}")
        response = self._connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {link} -> {response.status}: {body[:300]!r}")
        return body

    def pages(self, start: datetime, end: datetime) -> Any:
        """Every page body of the window, following ``next``."""
        link: str | None = first_url(self._base, start, end)
        while link:
            body = self.get(link)
            yield body
            link = next_link(body)


def bodies_table(bodies: list[bytes], **columns: Any) -> pa.Table:
    """The bodies as one Arrow text column, laid end to end without a Python str each."""
    offsets = np.zeros(len(bodies) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, bodies), dtype=np.int64, count=len(bodies)), out=offsets[1:])
    text = pa.LargeStringArray.from_buffers(
        len(bodies), pa.py_buffer(offsets), pa.py_buffer(b"".join(bodies))
    )
    return pa.table({**columns, "body": text})


# ------------------------------------------------------------------------------------------------
# The contract in SQL, per served element: typed, and valid or not (the pipeline's plain rules).

_FIELDS = ("order_id", "customer_id", "product", "currency", "status", "region", "quantity",
           "unit_price", "timestamp", "updated_at")  # fmt: skip
_TEXT_FIELDS = _FIELDS[1:6]
VERSIONS_SQL = f"""
fields AS MATERIALIZED (
    SELECT seq, json_type(e) = 'OBJECT' AS is_object,
        json_extract_string(e, {[f"$.{name}" for name in _FIELDS]!r}) AS f
    FROM elements
), checked AS (
    SELECT seq, TRY_CAST(f[1] AS BIGINT) AS order_id,
        {", ".join(f"f[{i}] AS {name}" for i, name in enumerate(_TEXT_FIELDS, start=2))},
        TRY_CAST(f[7] AS BIGINT) AS quantity, TRY_CAST(f[8] AS DOUBLE) AS unit_price,
        TRY_CAST(f[9] AS TIMESTAMPTZ) AS ordered_at, TRY_CAST(f[10] AS TIMESTAMPTZ) AS updated_at,
        f[7] AS q, f[8] AS p, f[9] AS ts, f[10] AS up, is_object
    FROM fields
), versions AS (
    SELECT * EXCLUDE (q, p, ts, up, is_object)
    FROM checked
    WHERE is_object AND order_id IS NOT NULL
      AND (q IS NULL OR quantity >= 1) AND (p IS NULL OR unit_price >= 0)
      AND (ts IS NULL OR (ordered_at >= $start AND ordered_at < $end))
      AND (up IS NULL OR updated_at IS NOT NULL)
)"""
"""CTEs from ``elements(seq, e)`` (``e``: one served element as JSON) to ``versions``: the
valid ones, typed (a missing field is NULL)."""

# Newest version last: unknown updated_at is the oldest, ties go to the one served last.
_NEWEST = "coalesce(epoch_us(updated_at)::HUGEINT, -(1::HUGEINT << 80)) * (1::HUGEINT << 40) + seq"
_FILLED = ("customer_id", "product", "currency", "status", "region", "quantity", "unit_price",
           "ordered_at")  # fmt: skip
FLOOR_SQL = f"""
CREATE TABLE sales_table AS
WITH elements AS (
    SELECT (w * 1000000 + page) * 100000 + pos AS seq, e
    FROM (SELECT w, page, unnest(l) AS e, unnest(range(len(l))) AS pos
          FROM (SELECT w, page, json_extract(body, '$.data[*]') AS l FROM bodies))
), {VERSIONS_SQL}, orders AS (
    SELECT order_id, {", ".join(f"arg_max({name}, {_NEWEST}) AS {name}" for name in _FILLED)},
        arg_max_null(updated_at, {_NEWEST}) AS updated_at
    FROM versions GROUP BY order_id
)
SELECT order_id, {", ".join(_TEXT_FIELDS)}, quantity, unit_price, quantity * unit_price AS amount,
    ordered_at, CAST(ordered_at AS DATE) AS order_date, updated_at
FROM orders
WHERE ordered_at IS NOT NULL AND quantity IS NOT NULL AND unit_price IS NOT NULL
"""
"""One statement from the page bodies to the sales table. ``arg_max`` skips NULLs, which fills a
field from the most recent version that has it; an order still without its timestamp, quantity
or unit price is dropped (the pipeline rejects it)."""


def _fetch_window(url: str, start: datetime, end: datetime) -> list[bytes]:
    with PageReader(url) as reader:
        return list(reader.pages(start, end))


def run_floor(url: str, day: date, workdir: Path) -> dict[str, Any]:
    began = time.perf_counter()
    start, end = day_window(day)
    step = (end - start) / FLOOR_WINDOWS
    bounds = [(start + step * k, start + step * (k + 1)) for k in range(FLOOR_WINDOWS)]
    with ThreadPoolExecutor(FLOOR_WINDOWS) as pool:
        parts = list(pool.map(lambda b: _fetch_window(url, *b), bounds))
    fetched = time.perf_counter() - began
    windows = np.repeat(np.arange(FLOOR_WINDOWS), [len(part) for part in parts])
    pages = np.concatenate([np.arange(1, len(part) + 1) for part in parts])
    bodies = bodies_table([body for part in parts for body in part], w=windows, page=pages)
    del parts
    database = workdir / "floor.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("bodies", bodies)
        connection.execute(FLOOR_SQL, {"start": start, "end": end})
    seconds = time.perf_counter() - began
    stages = {"fetch (4 threads)": fetched, "one DuckDB statement": seconds - fetched}
    return {"seconds": seconds, "stages": stages, "database": str(database), "table": "sales_table"}


def run_api(url: str, day: date, workdir: Path) -> dict[str, Any]:
    """One connection reading the day page after page, parsing each page fully with orjson."""
    began = time.perf_counter()
    elements = pages = 0
    with PageReader(url) as reader:
        for body in reader.pages(*day_window(day)):
            elements, pages = elements + len(orjson.loads(body)["data"]), pages + 1
    return {"seconds": time.perf_counter() - began, "elements": elements, "pages": pages}
