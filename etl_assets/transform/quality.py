"""Data-quality rules as pure functions: each returns whether it passed and what it found.

The asset checks in ``etl_assets/checks.py`` only wrap these, so every rule is tested directly
on DataFrames and the same rule reads the same in the UI and in the code.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from etl_assets.contract import ORDERS, OrderContract, OrderField, decode_json
from etl_assets.schema import CLEAN_RECORDS
from etl_assets.transform.fast import field_type_counts
from etl_assets.transform.orders import CleaningCounts, day_window
from etl_assets.transform.values import json_type

REQUIRED_FIELDS = tuple(CLEAN_RECORDS.required_columns)
DEFAULT_MAX_REJECTED_SHARE = 0.05
CLEAN_RULE_COLUMNS = tuple(
    dict.fromkeys(
        ["order_id", "order_date", "ordered_at", *REQUIRED_FIELDS]
        + [f.column_name for f in ORDERS.fields if f.minimum is not None]
    )
)
"""The ``clean_records`` columns the rules below read (the checks convert only these)."""


@dataclass(frozen=True)
class RuleResult:
    passed: bool
    description: str
    details: dict[str, Any] = field(default_factory=dict)


def _sample(values: pd.Series, limit: int = 5) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values.head(limit).tolist()]


def unique_order_ids(clean: pd.DataFrame) -> RuleResult:
    """One row per order and day (a backfill run holds several days)."""
    keys = ["order_id", "order_date"] if "order_date" in clean.columns else ["order_id"]
    repeated = clean.duplicated(subset=keys, keep=False)
    duplicated = clean.loc[repeated, "order_id"].drop_duplicates()
    return RuleResult(
        passed=duplicated.empty,
        description=f"{len(duplicated)} order_id(s) appear more than once",
        details={"duplicated_order_ids": _sample(duplicated)},
    )


def required_fields_present(
    clean: pd.DataFrame, required: tuple[str, ...] = REQUIRED_FIELDS
) -> RuleResult:
    """No NULL in the required (NOT NULL) columns."""
    missing = {name: int(clean[name].isna().sum()) for name in required}
    return RuleResult(
        passed=not any(missing.values()),
        description="rows missing a required field: "
        + ", ".join(f"{name} {count}" for name, count in missing.items()),
        details={"missing_by_field": missing},
    )


def minimum_rule_name(field: OrderField) -> str:
    """The check name of a field's ``minimum`` (``quantity_at_least_one``)."""
    if field.minimum == 0:
        suffix = "not_negative"
    elif field.minimum == 1:
        suffix = "at_least_one"
    else:
        suffix = f"at_least_{field.minimum:g}".replace(".", "_").replace("-", "minus_")
    return f"{field.column_name}_{suffix}"


def at_least_minimum(clean: pd.DataFrame, field: OrderField) -> RuleResult:
    """No value of the field's column below its ``minimum`` (NULLs are another rule's)."""
    column, values = field.column_name, clean[field.column_name]
    bad = clean.loc[values.notna() & (values < field.minimum), "order_id"]
    return RuleResult(
        passed=bad.empty,
        description=f"{len(bad)} row(s) with {column} < {field.minimum:g}",
        details={"order_ids": _sample(bad)},
    )


def minimum_rules(clean: pd.DataFrame, contract: OrderContract = ORDERS) -> dict[str, RuleResult]:
    """:func:`at_least_minimum` for every field of the contract that has a minimum, by check
    name."""
    return {
        minimum_rule_name(f): at_least_minimum(clean, f)
        for f in contract.fields
        if f.minimum is not None
    }


def ordered_at_inside_day(clean: pd.DataFrame, day: date) -> RuleResult:
    start, end = day_window(day)
    return ordered_at_inside_window(clean, start, end)


def ordered_at_inside_window(
    clean: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> RuleResult:
    """Every ordered_at lies in the run's partition window [start, end)."""
    stamps = clean["ordered_at"]
    bad = clean.loc[stamps.isna() | (stamps < start) | (stamps >= end), "order_id"]
    return RuleResult(
        passed=bad.empty,
        description=f"{len(bad)} row(s) with ordered_at outside [{start}, {end})",
        details={"order_ids": _sample(bad)},
    )


def reconciliation(counts: CleaningCounts) -> RuleResult:
    accounted = counts.clean + counts.rejected + counts.duplicates + counts.superseded
    return RuleResult(
        passed=counts.balanced,
        description=(
            f"served {counts.served} = clean {counts.clean} + rejected {counts.rejected} + "
            f"duplicates {counts.duplicates} + superseded {counts.superseded}"
            + ("" if counts.balanced else f" (accounted for {accounted})")
        ),
        details={"served": counts.served, "accounted": accounted},
    )


def rejected_share_within(counts: CleaningCounts, max_share: float) -> RuleResult:
    share = counts.rejected_share
    return RuleResult(
        passed=share <= max_share,
        description=f"rejected share {share:.2%} (threshold {max_share:.2%})",
        details={"rejected_share": round(share, 6), "threshold": max_share},
    )


def source_field_profile(payloads: pd.Series) -> dict[str, dict[str, int]]:
    """For every top-level field of the served objects: how often each JSON type appeared."""
    profile = FieldProfile()
    try:
        profile.add(payloads)
    finally:
        profile.close()
    return profile.result()


class FieldProfile:
    """``source_field_profile`` fed in parts: counts add up, so the day can be profiled page
    batch by page batch while it is still being fetched (see ``BackgroundFieldProfile``)."""

    def __init__(self, *, threads: int | None = None) -> None:
        self._counts: dict[str, Counter[str]] = defaultdict(Counter)
        self._threads = threads
        self._connection: duckdb.DuckDBPyConnection | None = None  # one for every part

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def add(self, payloads: pd.Series) -> None:
        if self._connection is None:
            self._connection = duckdb.connect()
        try:  # plain JSON objects in bulk (DuckDB), every other payload below
            counts, others = field_type_counts(
                payloads, threads=self._threads, connection=self._connection
            )
            # By position: a take would copy the Arrow chunks' shared buffers (~70 ms a batch).
            odd = [payloads.iat[row] for row in others]
        except (duckdb.Error, pa.ArrowException, UnicodeError, LookupError):
            counts, odd = defaultdict(Counter), payloads.tolist()
        for payload in odd:
            try:
                element = decode_json(payload)
            except (TypeError, ValueError):
                continue
            if isinstance(element, dict):
                for name, value in element.items():
                    counts[name][json_type(value)] += 1
        for name, counter in counts.items():
            self._counts[name].update(counter)

    def result(self) -> dict[str, dict[str, int]]:
        return {name: dict(counter) for name, counter in sorted(self._counts.items())}


class BackgroundFieldProfile:
    """A ``FieldProfile`` computed in one worker thread (DuckDB on one core, the GIL released)
    while the caller goes on, e.g. fetching the next pages on the other core."""

    def __init__(self) -> None:
        self._profile = FieldProfile(threads=1)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="field-profile")
        self._pending: list[Future[None]] = []

    def __enter__(self) -> BackgroundFieldProfile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._profile.close()

    def add(self, payloads: pd.Series) -> None:
        self._pending.append(self._worker.submit(self._profile.add, payloads))

    def result(self) -> dict[str, dict[str, int]]:
        """Wait for every part; re-raises what a part raised."""
        for part in self._pending:
            part.result()
        return self._profile.result()


def schema_drift(
    profile: dict[str, dict[str, int]], contract: OrderContract = ORDERS
) -> RuleResult:
    """New fields, expected fields never served, and fields served with an unexpected type."""
    expected = contract.expected_json_types
    seen = set(profile)
    new_fields = sorted(seen - set(expected))
    missing_fields = sorted(set(expected) - seen) if profile else []
    type_changes = {
        name: sorted(set(types) - expected[name] - {"null"})
        for name, types in profile.items()
        if name in expected and set(types) - expected[name] - {"null"}
    }
    parts = []
    if new_fields:
        parts.append("new fields: " + ", ".join(new_fields))
    if missing_fields:
        parts.append("fields never served: " + ", ".join(missing_fields))
    if type_changes:
        parts.append(
            "unexpected types: "
            + ", ".join(f"{name} as {'/'.join(types)}" for name, types in type_changes.items())
        )
    return RuleResult(
        passed=not parts,
        description="; ".join(parts) or "source fields and types as expected",
        details={
            "new_fields": new_fields,
            "missing_fields": missing_fields,
            "type_changes": type_changes,
            "profile": profile,
        },
    )
