"""Asset checks: the quality rules of ``transform/quality.py`` as checks the UI shows.

The checks on ``clean_records`` run inside the cleaning step, on the exact frame being written,
and are blocking: when one fails, ``sales_table`` is not materialized for that partition.
Reconciliation and rejected share run there too; schema drift runs in the extract step; table
column-type changes are Dagster's built-in check factory. Freshness is a ``FreshnessPolicy`` on
``sales_table`` (``assets.py``), which Dagster evaluates without a check or sensor of ours.
"""

from collections.abc import Sequence
from datetime import date

import dagster as dg
import pandas as pd

from etl_assets.transform import quality
from etl_assets.transform.orders import CleaningCounts, day_window

CLEAN = dg.AssetKey("clean_records")
RAW = dg.AssetKey("raw_records")
SALES = dg.AssetKey("sales_table")

# (name, description) of the blocking rules on clean_records, in the order they are evaluated.
CLEAN_RULES = {
    "unique_order_id": "Each order_id appears once per partition.",
    "required_fields_present": (
        "order_id, quantity, unit_price, ordered_at and order_date are never NULL, so "
        "sales_table's amount is never NULL either."
    ),
    "quantity_at_least_one": "quantity is NULL or ≥ 1.",
    "unit_price_not_negative": "unit_price is NULL or ≥ 0.",
    "ordered_at_inside_partition": "Every ordered_at lies inside the partition's UTC day(s).",
    "served_reconciles": "served = clean + rejected + duplicates + superseded.",
}
REJECTED_SHARE = "rejected_share_below_threshold"
SCHEMA_DRIFT = "source_schema_drift"

clean_records_check_specs = [
    *(
        dg.AssetCheckSpec(name, asset=CLEAN, description=text, blocking=True)
        for name, text in CLEAN_RULES.items()
    ),
    dg.AssetCheckSpec(
        REJECTED_SHARE,
        asset=CLEAN,
        description="Warns when the day's rejected share exceeds max_rejected_share (5 %).",
    ),
]
raw_records_check_specs = [
    dg.AssetCheckSpec(
        SCHEMA_DRIFT,
        asset=RAW,
        description="Warns on new source fields, fields never served, or unexpected JSON types.",
    )
]


def _result(
    name: str,
    asset: dg.AssetKey,
    rule: quality.RuleResult,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        asset_key=asset,
        passed=rule.passed,
        severity=severity,
        description=rule.description,
        metadata={"result": rule.description, "details": dg.MetadataValue.json(rule.details)},
    )


def clean_records_check_results(
    clean: pd.DataFrame, counts: CleaningCounts, days: Sequence[date], max_rejected_share: float
) -> list[dg.AssetCheckResult]:
    """The rules on the frame a run writes: one day, or every day of a single-run backfill."""
    start, _ = day_window(days[0])
    _, end = day_window(days[-1])
    rules = {
        "unique_order_id": quality.unique_order_ids(clean),
        "required_fields_present": quality.required_fields_present(clean),
        "quantity_at_least_one": quality.quantity_at_least_one(clean),
        "unit_price_not_negative": quality.unit_price_not_negative(clean),
        "ordered_at_inside_partition": quality.ordered_at_inside_window(clean, start, end),
        "served_reconciles": quality.reconciliation(counts),
    }
    results = [_result(name, CLEAN, rule) for name, rule in rules.items()]
    share = quality.rejected_share_within(counts, max_rejected_share)
    results.append(_result(REJECTED_SHARE, CLEAN, share, dg.AssetCheckSeverity.WARN))
    return results


def raw_records_check_results(profile: dict[str, dict[str, int]]) -> list[dg.AssetCheckResult]:
    """The drift check, from the field profile of every payload written (``FieldProfile``)."""
    drift = quality.schema_drift(profile)
    return [_result(SCHEMA_DRIFT, RAW, drift, dg.AssetCheckSeverity.WARN)]


def built_in_checks(
    assets: Sequence[dg.AssetsDefinition],
) -> list[dg.AssetChecksDefinition]:
    """Column type changes of every table (Dagster's check factory, beta in 1.13: its warning
    is the one Dagster prints when the definitions load)."""
    return list(dg.build_column_schema_change_checks(assets=list(assets)))
