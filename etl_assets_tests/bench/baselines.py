"""The tutorial baseline: ``requests.get`` per page, pandas, ``drop_duplicates``, ``to_sql`` into
SQLite, with our cleaning rules applied through the per-element reference path (what a
hand-written pandas cleaner does, row by row)."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pandas as pd
import requests

from etl_assets_tests.bench.floor import day_window, first_url


def run_tutorial(url: str, day: date, workdir: Path) -> dict[str, Any]:
    from etl_assets.transform.sales import sales_rows
    from etl_assets_tests.reference_cleaner import clean_orders_reference

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
    result = clean_orders_reference(raw, day)
    sales = sales_rows(result.clean, loaded_at=pd.Timestamp.now(tz="UTC"), run_id="tutorial")
    sales = sales.drop_duplicates()
    database = workdir / "tutorial.sqlite"
    with sqlite3.connect(database) as connection:
        sales.to_sql("sales_table", connection, if_exists="replace", index=False)
        result.rejected.to_sql("rejected_records", connection, if_exists="replace", index=False)
        connection.commit()
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "database": str(database), "table": "sales_table"}
