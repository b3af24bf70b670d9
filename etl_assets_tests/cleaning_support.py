"""Served elements for the cleaning tests: an order as the API serves it, a day of them as
``raw_records`` holds it, and that day cleaned."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pandas as pd

from etl_assets.transform import CleaningResult, clean_orders

DAY = date(2026, 11, 20)


def order(order_id: Any = 1, **fields: Any) -> dict[str, Any]:
    base = {
        "order_id": order_id,
        "customer_id": "C1",
        "product": "Widget",
        "quantity": 2,
        "unit_price": 3.5,
        "currency": "EUR",
        "status": "placed",
        "region": "North",
        "timestamp": "2026-11-20T10:00:00Z",
        "updated_at": "2026-11-20T10:00:00Z",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ABSENT}


ABSENT = object()


def raw(*elements: Any) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "_record_index": range(len(elements)),
            "_page": [1 + i // 3 for i in range(len(elements))],
            "_position": [i % 3 for i in range(len(elements))],
            "payload": [json.dumps(e, ensure_ascii=False) for e in elements],
        }
    )


def clean(*elements: Any, day: date = DAY) -> CleaningResult:
    return clean_orders(raw(*elements), day)


def only_reason(*elements: Any) -> str:
    result = clean(*elements)
    assert len(result.clean) == 0
    assert len(result.rejected) == 1
    return result.rejected.loc[0, "reason"]
