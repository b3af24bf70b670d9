"""Page bodies → one JSON text per record, split by DuckDB in a worker thread.

Turning a day of records back into text is most of the work of extraction after the read that
checks each page. DuckDB reads a batch of page bodies and writes every element of ``data`` out
as compact JSON in one query (``sources.page.split_bodies``), without a Python object per record
and with the GIL released, so it runs on the other core while the next pages are fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import duckdb
import pyarrow as pa

from etl_assets.sources.page import split_bodies

BATCH_BYTES = 64 << 20
"""Page bodies held for one batch at most (a batch is split in one query, its texts at once)."""


class PageTextSplitter:
    """Splits batches of page bodies into element texts in one worker thread, in order.

    Every ``batch_pages`` bodies ``add``-ed, or sooner once they reach ``batch_bytes`` (large
    pages: bounded memory), the batch goes to the worker, which splits it (DuckDB, one thread)
    and hands the batch's texts to ``on_texts`` (called in the worker thread) before the next
    batch. ``texts()`` waits for every batch and returns the texts of every page, in the order
    added; it re-raises what the worker raised. Use as a context manager: leaving it stops the
    worker.
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
        self._on_texts = on_texts
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="page-texts")
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._batch: list[bytes] = []
        self._bytes = 0
        self._done: list[Future[list[pa.StringArray]]] = []

    def __enter__(self) -> PageTextSplitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        if self._connection is not None:
            self._connection.close()

    def add(self, body: bytes) -> None:
        self._batch.append(body)
        self._bytes += len(body)
        if len(self._batch) >= self._batch_pages or self._bytes >= self._batch_bytes:
            self._submit()

    def texts(self) -> list[pa.StringArray]:
        if self._batch:
            self._submit()
        return [texts for batch in self._done for texts in batch.result()]

    def _submit(self) -> None:
        self._done.append(self._worker.submit(self._split, self._batch))
        self._batch, self._bytes = [], 0

    def _split(self, bodies: list[bytes]) -> list[pa.StringArray]:
        if self._connection is None:  # made in the worker thread, used only there
            self._connection = duckdb.connect(config={"threads": 1})
        texts = split_bodies(self._connection, bodies)
        if self._on_texts is not None:
            self._on_texts(texts)
        return texts
