"""From the raw elements of one day to one clean row per order, and a reason for every reject.

The rules, in the order they apply:

1. Each served element is checked on its own. An element that is not a JSON object, has no
   usable ``order_id``, or carries a value of the wrong type or range (``quantity 'three'``,
   a negative ``unit_price``, a ``timestamp`` outside the day) is rejected with its reasons.
2. The valid elements are grouped by ``order_id``. The version with the latest ``updated_at``
   wins (a version without ``updated_at`` counts as the oldest; ties go to the one served last).
3. A field missing in the winner is taken from the same order's most recent earlier version
   that has it. Values never cross from one order to another.
4. An order still without a ``quantity``, ``unit_price`` or ``timestamp`` after that is
   rejected (its winning element, with the reason); its other versions count as superseded.

Nothing disappears: served = clean + rejected + duplicates + superseded.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from etl_assets.schema import CLEAN_RECORDS, REJECTED_RECORDS
from etl_assets.transform.fast import (
    VERSION_COLUMNS,
    arrow_text,
    create_versions_table,
    insert_accepted_versions,
)
from etl_assets.transform.resolve import FILLABLE_FIELDS, REQUIRED_AFTER_FILL, resolve_versions
from etl_assets.transform.resolve import LINEAGE as _LINEAGE
from etl_assets.transform.values import (
    Problem,
    describe,
    json_type,
    parse_integer,
    parse_number,
    parse_text,
    parse_timestamp,
    storable,
)

TEXT_FIELDS = ("customer_id", "product", "currency", "status", "region")
# DuckDB threads for cleaning: the parse of the payloads is the work, and it spreads well.
_THREADS = max(os.cpu_count() or 1, 1)
__all__ = ["FILLABLE_FIELDS", "CleaningCounts", "CleaningResult", "clean_orders", "parse_version"]


@dataclass(frozen=True)
class CleaningCounts:
    """Where every served element went. ``served == clean + rejected + duplicates + superseded``."""

    served: int
    clean: int
    rejected: int
    duplicates: int
    superseded: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.served == self.clean + self.rejected + self.duplicates + self.superseded

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.served if self.served else 0.0


@dataclass(frozen=True)
class CleaningResult:
    clean: pd.DataFrame
    rejected: pd.DataFrame
    counts: CleaningCounts


def day_window(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The half-open UTC window [day 00:00Z, day+1 00:00Z) a daily partition covers."""
    return _day_window(day)


@lru_cache(maxsize=64)  # parse_version asks once per element
def _day_window(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day.isoformat(), tz="UTC")
    return start, start + timedelta(days=1)


def parse_version(element: Any, day: date) -> dict[str, Any]:
    """One served element as a typed order version; raises Problem listing everything wrong."""
    if not isinstance(element, dict):
        raise Problem("not_an_object", f"element is a JSON {json_type(element)}, not an object")
    start, end = day_window(day)
    problems: list[Problem] = []
    version: dict[str, Any] = {}

    def take(name: str, parse: Any, *, required: bool = False, **kwargs: Any) -> None:
        value = element.get(name)
        if value is None:
            if required:
                problems.append(Problem(f"{name}_missing", f"{name} missing"))
            version[name] = None
            return
        try:
            version[name] = parse(name, value, **kwargs)
        except Problem as problem:
            problems.append(problem)

    take("order_id", parse_integer, required=True)
    for name in TEXT_FIELDS:
        take(name, parse_text)
    take("quantity", parse_integer, minimum=1)
    take("unit_price", parse_number, minimum=0.0)
    take("timestamp", parse_timestamp)
    take("updated_at", parse_timestamp)
    ordered_at = version.pop("timestamp", None)
    if ordered_at is not None and not start <= ordered_at < end:
        problems.append(
            Problem(
                "timestamp_outside_day",
                f"timestamp {describe(element['timestamp'])} outside {day.isoformat()}",
            )
        )
    if problems:
        raise Problem(problems[0].code, "; ".join(p.message for p in problems))
    version["ordered_at"] = ordered_at
    return version


_MISSING_AFTER_FILL = {
    "quantity": "quantity is missing",
    "unit_price": "unit_price is missing",
    "timestamp": "timestamp missing in every version of the order",
}


def missing_after_fill(fields: list[str]) -> Problem:
    """Why an order is rejected that still lacks required ``fields`` once filled."""
    return Problem(f"{fields[0]}_missing", "; ".join(_MISSING_AFTER_FILL[name] for name in fields))


def _rejection(row: dict[str, Any], element: Any, problem: Problem, day: date) -> dict[str, Any]:
    order_id = element.get("order_id") if isinstance(element, dict) else None
    return {
        "partition_date": pd.Timestamp(day.isoformat()),
        **{name: row[name] for name in _LINEAGE},
        "order_id": None if order_id is None else parse_text_lenient(order_id),
        "reason_code": problem.code,
        "reason": problem.message,
        "payload": storable(row["payload"]) if isinstance(row["payload"], str) else None,
    }


def parse_text_lenient(value: Any) -> str:
    return storable(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def clean_orders(raw: pd.DataFrame, day: date) -> CleaningResult:
    """Validate, deduplicate and fill one day of raw elements (see the module docstring).

    Runs in an in-memory DuckDB over the payloads (zero-copy when Arrow-backed): plainly valid
    elements are typed in bulk (``fast.insert_accepted_versions``); every other element goes
    through :func:`parse_version`, which also writes every rejection reason; versions are then
    resolved per order in one aggregation (``resolve.resolve_versions``).
    """
    payloads = arrow_text(raw["payload"])
    lineage = {name: np.asarray(raw[name].to_numpy(), dtype=np.int64) for name in _LINEAGE}
    elements = pa.table({"_row": np.arange(len(raw), dtype=np.int64), **lineage, "p": payloads})
    with duckdb.connect() as connection:
        connection.execute(f"SET TimeZone = 'UTC'; SET threads = {_THREADS}")
        connection.register("raw", elements)
        create_versions_table(connection)
        versions, rejections = _check_elements(
            insert_accepted_versions(connection, elements, day), day
        )
        _insert_checked_versions(connection, versions)
        [(valid,)] = connection.sql("SELECT count(*) FROM versions").fetchall()
        clean_table, late, duplicates = resolve_versions(connection)
    late_rejections = [
        _rejection(
            {**{name: order[name] for name in _LINEAGE}, "payload": order["p"]},
            {"order_id": order["order_id"]},
            missing_after_fill([f for f in REQUIRED_AFTER_FILL if order[f"missing_{f}"]]),
            day,
        )
        for order in late.to_pylist()
    ]
    rejections.extend(late_rejections)
    clean = CLEAN_RECORDS.from_arrow(clean_table)
    rejected = REJECTED_RECORDS.conform(pd.DataFrame(rejections))
    rejected = rejected.sort_values("_record_index", kind="stable").reset_index(drop=True)
    counts = CleaningCounts(
        served=len(raw),
        clean=len(clean),
        rejected=len(rejected),
        duplicates=duplicates,
        superseded=valid - len(clean) - len(late_rejections) - duplicates,
        rejected_by_reason=dict(Counter(rejected["reason_code"].tolist()).most_common()),
    )
    return CleaningResult(clean=clean, rejected=rejected, counts=counts)


def _check_elements(
    elements: pa.Table, day: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``parse_version`` on each element (``_row``, lineage, ``p``): the versions (with
    ``_row``) and the rejections."""
    versions: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    lineage = {name: elements.column(name).to_pylist() for name in _LINEAGE}
    rows = elements.column("_row").to_pylist()
    for index, (row_number, payload) in enumerate(
        zip(rows, elements.column("p").to_pylist(), strict=True)
    ):
        row = {name: values[index] for name, values in lineage.items()}
        row["payload"] = payload
        element: Any = None
        try:
            element = json.loads(payload)
        except (TypeError, ValueError):
            problem: Problem | None = Problem("payload_not_json", "payload is not valid JSON")
        else:
            try:
                version = parse_version(element, day)
            except Problem as found:
                problem = found
            else:
                version["_row"] = row_number
                versions.append(version)
                continue
        rejections.append(_rejection(row, element, problem, day))
    return versions, rejections


def _insert_checked_versions(
    connection: duckdb.DuckDBPyConnection, versions: list[dict[str, Any]]
) -> None:
    """Add the versions ``parse_version`` accepted to ``versions``, with their lineage."""
    if not versions:
        return
    checked = pd.DataFrame(versions)
    for name in ("ordered_at", "updated_at"):
        checked[name] = pd.to_datetime(checked[name], utc=True)
    connection.register("checked", checked)
    casts = ", ".join(
        f"CAST(checked.{name} AS {type_}) AS {name}"
        for name, type_ in VERSION_COLUMNS.items()
        if name not in ("_row", "_record_index")
    )
    connection.execute(
        "INSERT INTO versions BY NAME SELECT checked._row, raw._record_index, "
        f"{casts} FROM checked JOIN raw USING (_row)"
    )
    connection.unregister("checked")
