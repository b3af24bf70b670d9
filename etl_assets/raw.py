"""Served pages → the ``raw_records`` rows: one per served element, nothing coerced or dropped.

Each element is kept as its JSON text (unknown fields, duplicates, non-objects included) next to
lineage columns that say which page and position served it, so any clean or rejected row can be
traced back to exactly what the API said.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from etl_assets.page_texts import PageTextSplitter
from etl_assets.schema import RAW_RECORDS
from etl_assets.sources.page import Page

JSON_TYPE_NAMES = ("object", "array", "string", "number", "boolean", "null")
# The JSON type of a compact JSON text, by its first byte (codes into JSON_TYPE_NAMES); 255:
# not the start of a JSON value. NaN and Infinity (which Python's json reads) are numbers.
_TYPE_BY_FIRST_BYTE = np.full(256, 255, dtype=np.uint8)
for _first, _code in {"{": 0, "[": 1, '"': 2, **dict.fromkeys("-0123456789NI", 3),
                      "t": 4, "f": 4, "n": 5}.items():  # fmt: skip
    _TYPE_BY_FIRST_BYTE[ord(_first)] = _code
PAYLOAD_BATCH_PAGES = 100
"""Pages per batch split into texts, and handed to ``on_payloads``, while the day is fetched."""


@dataclass(frozen=True)
class ExtractStats:
    pages: int
    elements: int
    seconds: float


def _text_series(texts: list[pa.StringArray]) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(texts, pa.string())))


@dataclass
class _Collected:
    """What the pages of a day contributed so far, column by column (the texts aside)."""

    numbers: list[int] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    fetched: list[datetime] = field(default_factory=list)

    def add(self, page: Page) -> None:
        self.numbers.append(page.number)
        self.urls.append(page.url)
        self.fetched.append(page.fetched_at)


def json_type_codes(texts: list[pa.StringArray]) -> np.ndarray:
    """The JSON type of each compact JSON text (codes into ``JSON_TYPE_NAMES``), read from its
    first byte: no text is parsed again."""
    codes = [np.zeros(0, dtype=np.uint8)]
    for chunk in texts:
        if chunk.null_count:
            raise ValueError("an element has no JSON text")
        wide = pa.types.is_large_string(chunk.type)
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64 if wide else np.int32)
        starts = offsets[chunk.offset : chunk.offset + len(chunk)]
        if len(starts):
            data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
            codes.append(_TYPE_BY_FIRST_BYTE[data[starts]])
    found = np.concatenate(codes)
    if (found == 255).any():
        raise ValueError("an element text does not start a JSON value")
    return found.astype(np.int8)


def raw_rows(
    pages: Iterable[Page],
    day: date,
    run_id: str,
    on_payloads: Callable[[pd.Series], None] | None = None,
) -> tuple[pa.Table, ExtractStats]:
    """Collect every page of a day into the ``raw_records`` contract, as an Arrow table (the
    warehouse writes it as it is: no DataFrame of a day of payloads is built).

    The records' texts are made in a worker thread (``page_texts.PageTextSplitter``) while the
    next pages are fetched. ``on_payloads``, when given, receives the payload texts of every
    ``PAYLOAD_BATCH_PAGES`` pages (sooner for large pages; the rest at the end), in that worker
    thread, so that work on them can start before the day is complete.

    Text repeated on many rows (page URL, run id, JSON type) is dictionary-encoded: a million
    rows share a thousand URLs instead of copying them.
    """
    began = time.monotonic()
    pages_seen = _Collected()
    on_texts = None if on_payloads is None else lambda texts: on_payloads(_text_series(texts))
    with PageTextSplitter(PAYLOAD_BATCH_PAGES, on_texts) as split:
        for page in pages:
            pages_seen.add(page)
            split.add(page.body)
        texts = split.texts()
    counts = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    starts = np.cumsum(counts) - counts
    elements = int(counts.sum())
    fetched = pa.array(pages_seen.fetched, pa.timestamp("us", tz="UTC"))
    columns = {
        "partition_date": pa.array(np.full(elements, day, dtype="datetime64[D]"), pa.date32()),
        "_record_index": np.arange(elements, dtype=np.int64),
        "_page": np.repeat(np.asarray(pages_seen.numbers, dtype=np.int64), counts),
        "_position": np.arange(elements, dtype=np.int64) - np.repeat(starts, counts),
        "_page_url": _repeated(pages_seen.urls, counts),
        "_extracted_at": fetched.take(np.repeat(np.arange(len(counts)), counts)),
        "_run_id": _repeated([run_id], np.asarray([elements])),
        "payload_type": pa.DictionaryArray.from_arrays(
            json_type_codes(texts).astype(np.int32), pa.array(list(JSON_TYPE_NAMES), pa.string())
        ),
        "payload": pa.chunked_array(texts, pa.string()),
    }
    stats = ExtractStats(pages=len(counts), elements=elements, seconds=time.monotonic() - began)
    # The contract's columns, in its order (a column it declares and this lacks is a KeyError).
    return pa.table({name: columns[name] for name in RAW_RECORDS.column_names}), stats


def _repeated(values: list[str], counts: np.ndarray) -> pa.DictionaryArray:
    """``values[i]`` repeated ``counts[i]`` times, as indices into the distinct values."""
    distinct, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    indices = np.repeat(codes.astype(np.int32), counts)
    return pa.DictionaryArray.from_arrays(indices, pa.array(distinct.tolist(), pa.string()))
