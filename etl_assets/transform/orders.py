"""From the raw elements of one day to one clean row per order, and a reason for every reject.

The rules, in the order they apply:

1. Each served element is checked on its own. An element that is not a JSON object, has no
   usable ``order_id``, or carries a value of the wrong type or range (``quantity 'three'``,
   a negative ``unit_price``, a ``timestamp`` outside the day) is rejected with its reasons.
2. The valid elements are grouped by ``order_id``. The version with the latest ``updated_at``
   wins (a version without ``updated_at`` counts as the oldest; ties go to the one served last).
3. A field missing in the winner is taken from the same order's most recent earlier version
   that has it. Values never cross from one order to another.
4. An order still without a ``timestamp`` after that is rejected.

Nothing disappears: served = clean + rejected + duplicates + superseded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from etl_assets.schema import CLEAN_RECORDS, REJECTED_RECORDS
from etl_assets.transform.values import (
    Problem,
    describe,
    json_type,
    parse_integer,
    parse_number,
    parse_text,
    parse_timestamp,
)

TEXT_FIELDS = ("customer_id", "product", "currency", "status", "region")
# Fields a winning version may take from an earlier version of the same order, in table order.
FILLABLE_FIELDS = ("customer_id", "product", "currency", "status", "region", "quantity",
                   "unit_price", "ordered_at")  # fmt: skip
_LINEAGE = ("_record_index", "_page", "_position")


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


def _decoded(raw: pd.DataFrame) -> Iterator[tuple[dict[str, Any], Any, Problem | None]]:
    lineage = [raw[name].tolist() for name in _LINEAGE]
    for position, payload in enumerate(raw["payload"].tolist()):
        row = {name: values[position] for name, values in zip(_LINEAGE, lineage, strict=True)}
        row["payload"] = payload
        try:
            yield row, json.loads(payload), None
        except (TypeError, ValueError):
            yield row, None, Problem("payload_not_json", "payload is not valid JSON")


def _rejection(row: dict[str, Any], element: Any, problem: Problem, day: date) -> dict[str, Any]:
    order_id = element.get("order_id") if isinstance(element, dict) else None
    return {
        "partition_date": pd.Timestamp(day.isoformat()),
        **{name: row[name] for name in _LINEAGE},
        "order_id": None if order_id is None else parse_text_lenient(order_id),
        "reason_code": problem.code,
        "reason": problem.message,
        "payload": row["payload"],
    }


def parse_text_lenient(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def clean_orders(raw: pd.DataFrame, day: date) -> CleaningResult:
    """Validate, deduplicate and fill one day of raw elements (see the module docstring)."""
    versions: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    for row, element, problem in _decoded(raw):
        if problem is None:
            try:
                version = parse_version(element, day)
            except Problem as found:
                problem = found
            else:
                version.update({name: row[name] for name in _LINEAGE})
                version["payload"] = row["payload"]
                version["_canonical"] = json.dumps(element, sort_keys=True)
                versions.append(version)
                continue
        rejections.append(_rejection(row, element, problem, day))

    clean, late_rejections, duplicates = _resolve_versions(versions, day)
    rejections.extend(late_rejections)
    rejected = REJECTED_RECORDS.conform(pd.DataFrame(rejections))
    rejected = rejected.sort_values("_record_index", kind="stable").reset_index(drop=True)
    counts = CleaningCounts(
        served=len(raw),
        clean=len(clean),
        rejected=len(rejected),
        duplicates=duplicates,
        superseded=len(versions) - len(clean) - len(late_rejections) - duplicates,
        rejected_by_reason=dict(Counter(rejected["reason_code"].tolist()).most_common()),
    )
    return CleaningResult(clean=clean, rejected=rejected, counts=counts)


def _resolve_versions(
    versions: list[dict[str, Any]], day: date
) -> tuple[pd.DataFrame, list[dict[str, Any]], int]:
    """Pick each order's winner, fill it, and split off orders that stay without a timestamp."""
    if not versions:
        return CLEAN_RECORDS.empty_frame(), [], 0
    frame = pd.DataFrame(versions)
    frame["order_id"] = frame["order_id"].astype("int64")
    for name in ("ordered_at", "updated_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True)
    frame["quantity"] = frame["quantity"].astype("Int64")
    frame["unit_price"] = frame["unit_price"].astype("float64")
    frame = frame.sort_values(
        ["order_id", "updated_at", "_record_index"], na_position="first", kind="stable"
    )
    groups = frame.groupby("order_id", sort=True)
    winners = groups.tail(1).set_index("order_id").sort_index()
    filled = groups[list(FILLABLE_FIELDS)].last()  # last non-null value: newest version having it
    duplicates = len(frame) - len(frame.drop_duplicates(["order_id", "_canonical"]))

    result = filled.copy()
    result["updated_at"] = winners["updated_at"]
    for name in _LINEAGE[:1]:
        result[name] = winners[name]
    result["_versions"] = groups.size()
    was_missing = winners[list(FILLABLE_FIELDS)].isna() & filled.notna()
    result["_filled_fields"] = [
        ",".join(name for name, missing in zip(FILLABLE_FIELDS, row, strict=True) if missing)
        or None
        for row in was_missing.itertuples(index=False)
    ]

    no_timestamp = result["ordered_at"].isna()
    late_rejections = [
        _rejection(
            {**winners.loc[order_id, list(_LINEAGE)].to_dict(), "payload": winner_payload},
            {"order_id": int(order_id)},
            Problem("timestamp_missing", "timestamp missing in every version of the order"),
            day,
        )
        for order_id, winner_payload in winners.loc[no_timestamp, "payload"].items()
    ]
    result = result.loc[~no_timestamp].reset_index()
    result["order_date"] = result["ordered_at"].dt.tz_convert(None).dt.normalize()
    return CLEAN_RECORDS.conform(result), late_rejections, duplicates
