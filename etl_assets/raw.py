"""Served pages → the ``raw_records`` frame: one row per served element, nothing coerced or dropped.

Each element is kept as its JSON text (unknown fields, duplicates, non-objects included) next to
lineage columns that say which page and position served it, so any clean or rejected row can be
traced back to exactly what the API said.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from etl_assets.schema import RAW_RECORDS
from etl_assets.sources.sales_api import Page
from etl_assets.transform.values import is_storable, json_type

JSON_TYPE_NAMES = ("object", "array", "string", "number", "boolean", "null")
_TYPE_CODES = {name: code for code, name in enumerate(JSON_TYPE_NAMES)}
_OBJECT_CODE = _TYPE_CODES["object"]
_CODE_BY_TYPE = {dict: 0, list: 1, str: 2, int: 3, float: 3, bool: 4, type(None): 5}


@dataclass(frozen=True)
class ExtractStats:
    pages: int
    elements: int
    seconds: float


def _python_text(element: Any) -> str:
    text = json.dumps(element, ensure_ascii=False, separators=(",", ":"))
    if is_storable(text):
        return text
    # A lone surrogate ("\\ud83d", valid JSON) cannot be stored as text: keep it escaped.
    return json.dumps(element, ensure_ascii=True, separators=(",", ":"))


def _texts(page: Page) -> pa.StringArray:
    """Each record as compact JSON text, in one Arrow array (no Python str per record).

    A page a strict parser read is written back with orjson, whose UTF-8 bytes are laid end
    to end into the array's buffers directly.
    """
    if not page.strict_json:
        return pa.array([_python_text(element) for element in page.records], pa.string())
    texts = [orjson.dumps(element) for element in page.records]
    offsets = np.zeros(len(texts) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, texts), dtype=np.int32, count=len(texts)), out=offsets[1:])
    return pa.StringArray.from_buffers(
        len(texts), pa.py_buffer(offsets), pa.py_buffer(b"".join(texts))
    )


def _type_codes(records: list[Any]) -> np.ndarray:
    """The JSON type of each record, as codes into ``JSON_TYPE_NAMES``."""
    types = list(map(type, records))
    if types.count(dict) == len(types):  # the usual page: only objects
        return np.full(len(records), _OBJECT_CODE, dtype=np.int8)
    codes = list(map(_CODE_BY_TYPE.get, types))
    if None in codes:  # a type a JSON parser does not usually return (e.g. a subclass)
        codes = [_TYPE_CODES[json_type(element)] for element in records]
    return np.asarray(codes, dtype=np.int8)


def raw_frame(pages: Iterable[Page], day: date, run_id: str) -> tuple[pd.DataFrame, ExtractStats]:
    """Collect every page of a day into the ``raw_records`` contract.

    Text repeated on many rows (page URL, run id, JSON type) is kept dictionary-encoded
    (categorical): a million rows share a thousand URLs instead of copying them.
    """
    began = time.monotonic()
    numbers: list[int] = []
    sizes: list[int] = []
    urls: list[str] = []
    fetched: list[pd.Timestamp] = []
    types: list[np.ndarray] = []
    texts: list[pa.StringArray] = []
    for page in pages:
        numbers.append(page.number)
        sizes.append(len(page.records))
        urls.append(page.url)
        fetched.append(pd.Timestamp(page.fetched_at))
        types.append(_type_codes(page.records))
        texts.append(_texts(page))
    counts = np.asarray(sizes, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    elements = int(counts.sum())
    payloads = pa.chunked_array(texts, pa.string())
    frame = pd.DataFrame(
        {
            "partition_date": pd.Timestamp(day.isoformat()),
            "_record_index": np.arange(elements, dtype=np.int64),
            "_page": np.repeat(np.asarray(numbers, dtype=np.int64), counts),
            "_position": np.arange(elements, dtype=np.int64) - np.repeat(starts, counts),
            "_page_url": _repeated(urls, counts),
            "_extracted_at": np.repeat(pd.to_datetime(fetched, utc=True), counts),
            "_run_id": _repeated([run_id], np.asarray([elements])),
            "payload_type": pd.Categorical.from_codes(
                np.concatenate(types) if types else np.zeros(0, dtype=np.int8),
                categories=JSON_TYPE_NAMES,
            ),
            "payload": pd.arrays.ArrowStringArray(payloads),
        }
    )
    stats = ExtractStats(pages=len(sizes), elements=elements, seconds=time.monotonic() - began)
    return RAW_RECORDS.conform(frame), stats


def _repeated(values: list[str], counts: np.ndarray) -> pd.Categorical:
    """``values[i]`` repeated ``counts[i]`` times, as codes into the distinct values."""
    distinct, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    return pd.Categorical.from_codes(np.repeat(codes.astype(np.int32), counts), distinct)
