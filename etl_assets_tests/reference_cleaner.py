"""The per-element reference cleaner: every element through ``parse_version``, one at a time.

An independent restatement of the cleaning rules in plain pandas, for the tests: the property
test (``test_fast_path.py``) checks that ``clean_orders`` gives exactly the same frames and
counts, and the benchmark's tutorial baseline cleans with it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from etl_assets.contract import ORDERS, OrderContract, decode_json
from etl_assets.schema import REJECTED_RECORDS, clean_records_table
from etl_assets.transform.orders import (
    CleaningCounts,
    _rejection,
    incomplete_after_fill,
    parse_version,
)
from etl_assets.transform.resolve import LINEAGE as _LINEAGE
from etl_assets.transform.values import Problem


@dataclass(frozen=True)
class ReferenceResult:
    """What ``clean_orders`` returns, as frames: the clean rows, the rejections, the counts."""

    clean: pd.DataFrame
    rejected: pd.DataFrame
    counts: CleaningCounts


def _decoded(raw: pd.DataFrame) -> Iterator[tuple[dict[str, Any], Any, Problem | None]]:
    lineage = [raw[name].tolist() for name in _LINEAGE]
    for position, payload in enumerate(raw["payload"].tolist()):
        row = {name: values[position] for name, values in zip(_LINEAGE, lineage, strict=True)}
        row["payload"] = payload
        try:
            yield row, decode_json(payload), None
        except (TypeError, ValueError):
            yield row, None, Problem("payload_not_json", "payload is not valid JSON")


def clean_orders_reference(
    raw: pd.DataFrame, day: date, contract: OrderContract = ORDERS
) -> ReferenceResult:
    """``clean_orders`` element by element: the definition the fast path is tested against."""
    versions: list[dict[str, Any]] = []
    rejections: list[dict[str, Any]] = []
    for row, element, problem in _decoded(raw):
        if problem is None:
            try:
                version = parse_version(element, day, contract)
            except Problem as found:
                problem = found
            else:
                version.update({name: row[name] for name in _LINEAGE})
                version["payload"] = row["payload"]
                version["_canonical"] = json.dumps(element, sort_keys=True)
                versions.append(version)
                continue
        rejections.append(_rejection(row, element, problem, day))

    clean, late_rejections, duplicates = _resolve_versions(versions, day, contract)
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
    return ReferenceResult(clean=clean, rejected=rejected, counts=counts)


def _resolve_versions(
    versions: list[dict[str, Any]], day: date, contract: OrderContract
) -> tuple[pd.DataFrame, list[dict[str, Any]], int]:
    """Pick each order's winner, fill it, and split off orders still lacking a required field."""
    table = clean_records_table(contract)
    if not versions:
        return table.empty_frame(), [], 0
    key, version = contract.key.column_name, contract.version.column_name
    fillable = [f.column_name for f in contract.fillable]
    frame = pd.DataFrame(versions)
    frame[key] = frame[key].astype("int64")
    for field in contract.fields:
        if field.kind == "timestamp":
            frame[field.column_name] = pd.to_datetime(frame[field.column_name], utc=True)
        elif field.kind == "integer" and field.role != "key":
            frame[field.column_name] = frame[field.column_name].astype("Int64")
        elif field.kind == "number":
            frame[field.column_name] = frame[field.column_name].astype("float64")
    frame = frame.sort_values([key, version, "_record_index"], na_position="first", kind="stable")
    groups = frame.groupby(key, sort=True)
    winners = groups.tail(1).set_index(key).sort_index()
    filled = groups[fillable].last()  # last non-null value: newest version having it
    duplicates = len(frame) - len(frame.drop_duplicates([key, "_canonical"]))

    result = filled.copy()
    result[version] = winners[version]
    for name in _LINEAGE[:1]:
        result[name] = winners[name]
    result["_versions"] = groups.size()
    was_missing = winners[fillable].isna() & filled.notna()
    result["_filled_fields"] = [
        ",".join(name for name, missing in zip(fillable, row, strict=True) if missing) or None
        for row in was_missing.itertuples(index=False)
    ]

    required = contract.required_after_fill
    missing = result[[f.column_name for f in required]].isna()
    missing.columns = [f.name for f in required]
    columns = {f.name: f.column_name for f in contract.fields}
    with np.errstate(over="ignore"):  # an overflow to inf is what the rule looks for
        amount = np.prod([result[columns[n]].astype("float64") for n in contract.amount_factors], 0)
    incomplete = missing.any(axis=1) | ~np.isfinite(amount)
    late_rejections = [
        _rejection(
            {**winners.loc[order_id, list(_LINEAGE)].to_dict(), "payload": winner_payload},
            decode_json(winner_payload),
            incomplete_after_fill(
                [f.name for f in required if missing.loc[order_id, f.name]], contract
            ),
            day,
        )
        for order_id, winner_payload in winners.loc[incomplete, "payload"].items()
    ]
    result = result.loc[~incomplete].reset_index()
    placed = result[contract.placed.column_name]
    result["order_date"] = placed.dt.tz_convert(None).dt.normalize()
    return table.conform(result), late_rejections, duplicates
