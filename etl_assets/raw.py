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

import pandas as pd

from etl_assets.schema import RAW_RECORDS
from etl_assets.sources.sales_api import Page
from etl_assets.transform.values import json_type


@dataclass(frozen=True)
class ExtractStats:
    pages: int
    elements: int
    seconds: float


def raw_frame(pages: Iterable[Page], day: date, run_id: str) -> tuple[pd.DataFrame, ExtractStats]:
    """Collect every page of a day into the ``raw_records`` contract."""
    began = time.monotonic()
    page_numbers: list[int] = []
    positions: list[int] = []
    urls: list[str] = []
    fetched: list[pd.Timestamp] = []
    types: list[str] = []
    payloads: list[str] = []
    page_count = 0
    for page in pages:
        page_count += 1
        stamp = pd.Timestamp(page.fetched_at)
        for position, element in enumerate(page.records):
            page_numbers.append(page.number)
            positions.append(position)
            urls.append(page.url)
            fetched.append(stamp)
            types.append(json_type(element))
            payloads.append(json.dumps(element, ensure_ascii=False, separators=(",", ":")))
    frame = pd.DataFrame(
        {
            "partition_date": pd.Timestamp(day.isoformat()),
            "_record_index": range(len(payloads)),
            "_page": page_numbers,
            "_position": positions,
            "_page_url": urls,
            "_extracted_at": pd.to_datetime(fetched, utc=True),
            "_run_id": run_id,
            "payload_type": types,
            "payload": payloads,
        }
    )
    stats = ExtractStats(pages=page_count, elements=len(payloads), seconds=time.monotonic() - began)
    return RAW_RECORDS.conform(frame), stats
