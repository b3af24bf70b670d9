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
import uuid
from collections import Counter
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, timedelta
from functools import cached_property, lru_cache
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from etl_assets.contract import ORDERS, OrderContract, OrderField, decode_json
from etl_assets.schema import REJECTED_RECORDS, clean_records_table
from etl_assets.transform.fast import arrow_text, type_plain_elements, version_columns
from etl_assets.transform.resolve import LINEAGE as _LINEAGE
from etl_assets.transform.resolve import resolve_versions
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

# DuckDB threads for cleaning: the parse of the payloads is the work, and it spreads well.
_THREADS = max(os.cpu_count() or 1, 1)
__all__ = [
    "CleaningCounts",
    "CleaningResult",
    "DayCleaning",
    "clean_elements",
    "clean_orders",
    "combine_days",
    "parse_version",
]


@dataclass(frozen=True)
class CleaningCounts:
    """Where every served element went. ``served == clean + rejected + duplicates + superseded``."""

    served: int
    clean: int
    rejected: int
    duplicates: int
    superseded: int
    rejected_by_reason: dict[str, int] = dataclass_field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.served == self.clean + self.rejected + self.duplicates + self.superseded

    @property
    def rejected_share(self) -> float:
        return self.rejected / self.served if self.served else 0.0


@dataclass(frozen=True)
class CleaningResult:
    clean_rows: pa.Table
    """The clean rows as DuckDB returned them, in ``clean_records``' columns: what the warehouse
    writes (a day of orders never becomes a DataFrame on its way there)."""
    rejected: pd.DataFrame
    counts: CleaningCounts
    counts_by_day: dict[date, CleaningCounts] = dataclass_field(default_factory=dict)
    """Each day's own counts (they add up to ``counts``)."""
    contract: OrderContract = ORDERS

    @cached_property
    def clean(self) -> pd.DataFrame:
        """The clean rows as a DataFrame of ``clean_records``' contract (made on first use)."""
        return clean_records_table(self.contract).from_arrow(self.clean_rows)


@dataclass(frozen=True)
class DayCleaning:
    """One day cleaned inside DuckDB: the clean rows as the Arrow result, which outlives the
    session (its memory is released before the rows are written)."""

    day: date
    clean: pa.Table
    rejected: pd.DataFrame
    counts: CleaningCounts


def combine_days(days: list[DayCleaning], contract: OrderContract = ORDERS) -> CleaningResult:
    """The days' results as one: rows put together, counts added up."""
    reasons: Counter[str] = Counter()
    for day in days:
        reasons.update(day.counts.rejected_by_reason)
    counts = CleaningCounts(
        served=sum(d.counts.served for d in days),
        clean=sum(d.counts.clean for d in days),
        rejected=sum(d.counts.rejected for d in days),
        duplicates=sum(d.counts.duplicates for d in days),
        superseded=sum(d.counts.superseded for d in days),
        rejected_by_reason=dict(reasons.most_common()),
    )
    counts_by_day = {d.day: d.counts for d in days}
    tables = [d.clean for d in days]
    clean = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    frames = [d.rejected for d in days]
    rejected = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    del days, tables
    return CleaningResult(
        clean_rows=clean,
        rejected=rejected,
        counts=counts,
        counts_by_day=counts_by_day,
        contract=contract,
    )


def day_window(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The half-open UTC window [day 00:00Z, day+1 00:00Z) a daily partition covers."""
    return _day_window(day)


@lru_cache(maxsize=64)  # parse_version asks once per element
def _day_window(day: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day.isoformat(), tz="UTC")
    return start, start + timedelta(days=1)


def _parse_field(field: OrderField, value: Any) -> Any:
    if field.kind == "integer":
        minimum = None if field.minimum is None else int(field.minimum)
        return parse_integer(field.name, value, minimum=minimum)
    if field.kind == "number":
        minimum = None if field.minimum is None else float(field.minimum)
        return parse_number(field.name, value, minimum=minimum)
    if field.kind == "timestamp":
        return parse_timestamp(field.name, value)
    return parse_text(field.name, value)


def parse_version(element: Any, day: date, contract: OrderContract = ORDERS) -> dict[str, Any]:
    """One served element as a typed order version (keyed by column); raises Problem listing
    everything wrong with it, in the contract's field order."""
    if not isinstance(element, dict):
        raise Problem("not_an_object", f"element is a JSON {json_type(element)}, not an object")
    problems: list[Problem] = []
    version: dict[str, Any] = {}
    for field in contract.fields:
        value = element.get(field.name)
        version[field.column_name] = None
        if value is None:
            if field.role == "key":
                problems.append(Problem(f"{field.name}_missing", f"{field.name} missing"))
            continue
        try:
            version[field.column_name] = _parse_field(field, value)
        except Problem as problem:
            problems.append(problem)
    placed = contract.placed
    moment = version[placed.column_name]
    start, end = day_window(day)
    if moment is not None and not start <= moment < end:
        problems.append(
            Problem(
                f"{placed.name}_outside_day",
                f"{placed.name} {describe(element[placed.name])} outside {day.isoformat()}",
            )
        )
    if problems:
        raise Problem(problems[0].code, "; ".join(p.message for p in problems))
    return version


def incomplete_after_fill(fields: list[str], contract: OrderContract = ORDERS) -> Problem:
    """Why an order is rejected once filled: it still lacks the required ``fields``, or (none
    missing) the product of its amount factors is not a finite number."""
    if not fields:
        product = " × ".join(contract.amount_factors)
        return Problem("amount_not_finite", f"{product} is not a finite number")
    return Problem(f"{fields[0]}_missing", "; ".join(f"{name} is missing" for name in fields))


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


def clean_orders(raw: pd.DataFrame, day: date, contract: OrderContract = ORDERS) -> CleaningResult:
    """:func:`clean_elements` over a DataFrame of one day's raw elements, in a DuckDB of its own
    (zero-copy when the payloads are Arrow-backed)."""
    lineage = {name: np.asarray(raw[name].to_numpy(), dtype=np.int64) for name in _LINEAGE}
    elements = pa.table(
        {"_row": np.arange(len(raw), dtype=np.int64), **lineage, "p": arrow_text(raw["payload"])}
    )
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        cleaned = clean_elements(connection, connection.from_arrow(elements), day, contract)
    return combine_days([cleaned], contract)


def clean_elements(
    connection: duckdb.DuckDBPyConnection,
    elements: duckdb.DuckDBPyRelation,
    day: date,
    contract: OrderContract = ORDERS,
) -> DayCleaning:
    """Validate, deduplicate and fill one day of raw elements (see the module docstring).

    ``elements``: a relation of ``connection`` (a UTC session) with ``_row`` (unique), the
    lineage columns and the payload text ``p``; it may be the day in the warehouse itself, read
    where it is stored. Plainly valid elements are typed in bulk (``fast.type_plain_elements``);
    every other element goes through :func:`parse_version`, which also writes every rejection
    reason; versions are then resolved per order in one aggregation
    (``resolve.resolve_versions``). Only those other elements come out into Python.
    """
    connection.execute(f"SET threads = {_THREADS}")
    accepted, flagged = type_plain_elements(connection, elements, day, contract)
    temp_tables = [accepted.alias]
    try:
        checked, rejections = _check_elements(flagged, day, contract)
        typed = _typed_versions(connection, checked, contract)
        temp_tables.append(typed.alias)
        versions = accepted.union(typed)
        [(valid,)] = versions.aggregate("count(*)").fetchall()
        [(served,)] = elements.aggregate("count(*)").fetchall()
        resolution = resolve_versions(connection, versions, elements, contract)
    finally:
        for table in temp_tables:
            connection.execute(f"DROP TABLE IF EXISTS {table}")
    late_rejections = [
        _rejection(
            {**{name: order[name] for name in _LINEAGE}, "payload": order["p"]},
            decode_json(order["p"]),  # its order_id as served, as for every other reject
            incomplete_after_fill(
                [f.name for f in contract.required_after_fill if order[f"missing_{f.name}"]],
                contract,
            ),
            day,
        )
        for order in resolution.incomplete.to_pylist()
    ]
    rejections.extend(late_rejections)
    clean = resolution.clean
    rejected = REJECTED_RECORDS.conform(pd.DataFrame(rejections))
    rejected = rejected.sort_values("_record_index", kind="stable").reset_index(drop=True)
    counts = CleaningCounts(
        served=int(served),
        clean=clean.num_rows,
        rejected=len(rejected),
        duplicates=resolution.duplicates,
        superseded=valid - clean.num_rows - len(late_rejections) - resolution.duplicates,
        rejected_by_reason=dict(Counter(rejected["reason_code"].tolist()).most_common()),
    )
    return DayCleaning(day=day, clean=clean, rejected=rejected, counts=counts)


def _check_elements(
    elements: pa.Table, day: date, contract: OrderContract
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``parse_version`` on each element (``_row``, lineage, ``p``): the versions (with
    ``_row`` and ``_record_index``) and the rejections."""
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
            element = decode_json(payload)
        except (TypeError, ValueError):
            problem: Problem | None = Problem("payload_not_json", "payload is not valid JSON")
        else:
            try:
                version = parse_version(element, day, contract)
            except Problem as found:
                problem = found
            else:
                version["_row"] = row_number
                version["_record_index"] = row["_record_index"]
                versions.append(version)
                continue
        rejections.append(_rejection(row, element, problem, day))
    return versions, rejections


def _typed_versions(
    connection: duckdb.DuckDBPyConnection,
    versions: list[dict[str, Any]],
    contract: OrderContract,
) -> duckdb.DuckDBPyRelation:
    """The versions ``parse_version`` accepted, in a temp table of ``fast.version_columns``
    (a table, not a view of the frame: views of Python objects cannot live beside a file)."""
    columns = version_columns(contract)
    frame = pd.DataFrame(versions, columns=list(columns))
    for field in contract.fields:
        if field.kind == "timestamp":
            frame[field.column_name] = pd.to_datetime(frame[field.column_name], utc=True)
    casts = ", ".join(f"CAST({name} AS {type_}) AS {name}" for name, type_ in columns.items())
    table = f"checked_{uuid.uuid4().hex}"
    connection.register(f"{table}_frame", frame)
    connection.execute(f"CREATE TEMP TABLE {table} AS SELECT {casts} FROM {table}_frame")
    connection.unregister(f"{table}_frame")
    return connection.table(table)
