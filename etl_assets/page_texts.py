"""Page bodies → one JSON text per record, split by DuckDB in a worker thread.

Turning a day of records back into text is most of the work of extraction after the parse that
checks each page. DuckDB reads a batch of page bodies and writes every element of ``data`` out
as compact JSON in one query, without a Python object per record and with the GIL released, so
it runs on the other core while the next pages are fetched.

DuckDB's split is used only where it provably reads the list the strict parser read: a body
with exactly one top-level key "data" (orjson keeps the last of several, DuckDB the first), split
into as many elements as the parser found. Any other body is turned into text record by record
(``body_texts``). Either way each text reads back as the same JSON value: strings unescaped and
escaped again, numbers in their shortest form, integers beyond 64 bits exactly as served.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from etl_assets.transform.values import is_storable

# Only where the body has exactly one top-level key "data" (escapes read): with a second one,
# orjson would keep the last and DuckDB's path the first.
_SPLIT_SQL = """
SELECT i, CASE WHEN len(list_filter(json_keys(body), lambda k: k = 'data')) = 1
    THEN json_extract(body, '$.data[*]')::VARCHAR[] END AS texts
FROM bodies
"""
# 19 digits in a row: possibly an integer beyond 64 bits (2**63 has 19 digits).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19
BATCH_BYTES = 64 << 20
"""Page bodies held for one batch at most (a batch is split in one query, its texts at once)."""


def orjson_texts(records: Sequence[Any]) -> pa.StringArray:
    """Each record as compact JSON text, orjson's UTF-8 bytes laid end to end into one Arrow
    array's buffers (no Python str per record)."""
    texts = [orjson.dumps(element) for element in records]
    offsets = np.zeros(len(texts) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int32, count=len(texts)), out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(texts), pa.py_buffer(offsets), pa.py_buffer(b"".join(texts))
    )


def python_text(element: Any) -> str:
    """One record as compact JSON text, by Python's json (NaN, Infinity, any integer)."""
    text = json.dumps(element, ensure_ascii=False, separators=(",", ":"))
    if is_storable(text):
        return text
    # A lone surrogate ("\\ud83d", valid JSON) cannot be stored as text: keep it escaped.
    return json.dumps(element, ensure_ascii=True, separators=(",", ":"))


def python_texts(records: Sequence[Any]) -> pa.StringArray:
    return pa.array([python_text(element) for element in records], pa.string())


def body_texts(body: bytes) -> pa.StringArray:
    """The element texts of a strict body, without DuckDB: orjson, unless the body may hold an
    integer beyond 64 bits, which orjson would read as a double (Python's json keeps it)."""
    if body.translate(_DIGITS_AS_ZERO).find(_LONG_DIGIT_RUN) < 0:
        return orjson_texts(orjson.loads(body)["data"])
    return python_texts(json.loads(body)["data"])


def split_bodies(
    connection: duckdb.DuckDBPyConnection, bodies: Sequence[bytes], sizes: Sequence[int]
) -> list[pa.StringArray]:
    """The element texts of each strict body (``sizes``: how many elements the strict parser
    found in each).

    One DuckDB query splits them all; a body with a second key "data", one DuckDB splits into a
    different number of elements, or all of them if the query fails, go to ``body_texts``.
    """
    split = _duckdb_split(connection, bodies)
    return [
        elements if elements is not None and len(elements) == size else body_texts(body)
        for body, size, elements in zip(bodies, sizes, split, strict=True)
    ]


def _duckdb_split(
    connection: duckdb.DuckDBPyConnection, bodies: Sequence[bytes]
) -> list[pa.StringArray | None]:
    """``$.data[*]`` of each body as JSON texts (None where it is not the one "data" list)."""
    if not bodies:
        return []
    offsets = np.zeros(len(bodies) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, bodies), dtype=np.int64, count=len(bodies)), out=offsets[1:])
    table = pa.table(
        {
            "i": np.arange(len(bodies), dtype=np.int64),
            "body": pa.LargeStringArray.from_buffers(
                len(bodies), pa.py_buffer(offsets), pa.py_buffer(b"".join(bodies))
            ),
        }
    )
    try:
        connection.register("bodies", table)
        split = connection.sql(_SPLIT_SQL).to_arrow_table().combine_chunks()
    except (duckdb.Error, pa.ArrowException):
        return [None] * len(bodies)
    finally:
        with suppress(duckdb.Error):
            connection.unregister("bodies")
    if split.num_rows != len(bodies) or not np.array_equal(
        split.column("i").to_numpy(), np.arange(len(bodies))
    ):
        return [None] * len(bodies)
    lists = split.column("texts").chunk(0)
    return [lists[k].values if lists[k].is_valid else None for k in range(len(bodies))]


@dataclass
class _Batch:
    """Consecutive pages: for each, its texts already, or its body for DuckDB to split."""

    items: list[pa.StringArray | bytes]
    sizes: list[int]


class PageTextSplitter:
    """Splits batches of pages into element texts in one worker thread, in order.

    ``add`` takes a page's texts or its body; every ``batch_pages`` pages, or sooner once the
    batch's bodies reach ``batch_bytes`` (large pages: bounded memory), the batch goes to the
    worker, which splits the bodies (DuckDB, one thread) and hands the batch's texts to
    ``on_texts`` (called in the worker thread) before the next batch. ``texts()`` waits for every
    batch and returns the texts of every page, in the order added; it re-raises what the worker
    raised. Use as a context manager: leaving it stops the worker.
    """

    def __init__(
        self,
        batch_pages: int,
        on_texts: Callable[[list[pa.StringArray]], None] | None = None,
        *,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self._batch_pages = batch_pages
        self._batch_bytes = batch_bytes
        self._bytes = 0
        self._on_texts = on_texts
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-texts")
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._batch = _Batch([], [])
        self._done: list[Future[list[pa.StringArray]]] = []

    def __enter__(self) -> PageTextSplitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        if self._connection is not None:
            self._connection.close()

    def add(self, texts_or_body: pa.StringArray | bytes, size: int) -> None:
        self._batch.items.append(texts_or_body)
        self._batch.sizes.append(size)
        if isinstance(texts_or_body, bytes):
            self._bytes += len(texts_or_body)
        if len(self._batch.items) >= self._batch_pages or self._bytes >= self._batch_bytes:
            self._submit()

    def texts(self) -> list[pa.StringArray]:
        if self._batch.items:
            self._submit()
        return [texts for batch in self._done for texts in batch.result()]

    def _submit(self) -> None:
        self._done.append(self._worker.submit(self._split, self._batch))
        self._batch, self._bytes = _Batch([], []), 0

    def _split(self, batch: _Batch) -> list[pa.StringArray]:
        if self._connection is None:  # made in the worker thread, used only there
            self._connection = duckdb.connect()
            self._connection.execute("SET threads = 1")
        places = [k for k, item in enumerate(batch.items) if isinstance(item, bytes)]
        split = split_bodies(
            self._connection,
            [batch.items[k] for k in places],  # type: ignore[misc]
            [batch.sizes[k] for k in places],
        )
        texts: list[Any] = list(batch.items)
        for place, elements in zip(places, split, strict=True):
            texts[place] = elements
        if self._on_texts is not None:
            self._on_texts(texts)
        return texts
