"""Served pages → the ``raw_records`` frame: one row per served element, nothing coerced or dropped.

Each element is kept as its JSON text (unknown fields, duplicates, non-objects included) next to
lineage columns that say which page and position served it, so any clean or rejected row can be
traced back to exactly what the API said.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import orjson
import pandas as pd

from etl_assets.schema import RAW_RECORDS
from etl_assets.sources.sales_api import Page
from etl_assets.transform.values import is_storable, json_type

_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}  # fmt: skip


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


def _orjson_text(element: Any) -> str:
    return orjson.dumps(element).decode()


def _texts(page: Page) -> list[str]:
    """Each record as compact JSON text; orjson when the page came from a strict parser."""
    dumps: Callable[[Any], str] = _orjson_text if page.strict_json else _python_text
    return [dumps(element) for element in page.records]


def raw_frame(pages: Iterable[Page], day: date, run_id: str) -> tuple[pd.DataFrame, ExtractStats]:
    """Collect every page of a day into the ``raw_records`` contract."""
    began = time.monotonic()
    numbers: list[int] = []
    sizes: list[int] = []
    urls: list[str] = []
    fetched: list[pd.Timestamp] = []
    types: list[str] = []
    payloads: list[str] = []
    for page in pages:
        numbers.append(page.number)
        sizes.append(len(page.records))
        urls.append(page.url)
        fetched.append(pd.Timestamp(page.fetched_at))
        types += [_JSON_TYPES.get(type(e)) or json_type(e) for e in page.records]
        payloads += _texts(page)
    counts = np.asarray(sizes, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    frame = pd.DataFrame(
        {
            "partition_date": pd.Timestamp(day.isoformat()),
            "_record_index": np.arange(len(payloads), dtype=np.int64),
            "_page": np.repeat(np.asarray(numbers, dtype=np.int64), counts),
            "_position": np.arange(len(payloads), dtype=np.int64) - np.repeat(starts, counts),
            "_page_url": np.repeat(np.asarray(urls, dtype=object), counts),
            "_extracted_at": np.repeat(pd.to_datetime(fetched, utc=True), counts),
            "_run_id": run_id,
            "payload_type": types,
            "payload": payloads,
        }
    )
    stats = ExtractStats(pages=len(sizes), elements=len(payloads), seconds=time.monotonic() - began)
    return RAW_RECORDS.conform(frame), stats
