"""Asset checks: the quality rules of ``transform/quality.py`` as checks the UI shows.

The checks on ``clean_records`` run inside the cleaning step, on the exact frame being written,
and are blocking: when one fails, ``sales_table`` is not materialized for that partition.
Reconciliation and rejected share run there too; schema drift runs in the extract step; table
column-type changes and freshness are Dagster's built-in check factories.
"""

import warnings
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

# By 02:00 UTC each day, yesterday's sales_table partition must exist: the newest partition may
# be at most ~26 h old (a day, plus the 00:15 schedule's run time and slack).
FRESHNESS_DEADLINE_CRON = "0 2 * * *"

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
    """Column type changes of every table, and freshness of sales_table's newest partition."""
    sales = [a for a in assets if SALES in a.keys]
    # Both factories warn (beta / superseded by FreshnessPolicy), but they are what shows these
    # rules as asset checks in the UI, which is what we want; FreshnessPolicy shows no check.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        return [
            *dg.build_column_schema_change_checks(assets=list(assets)),
            *dg.build_time_partition_freshness_checks(
                assets=sales, deadline_cron=FRESHNESS_DEADLINE_CRON, timezone="UTC"
            ),
        ]


def freshness_sensor(checks: Sequence[dg.AssetChecksDefinition]) -> dg.SensorDefinition:
    """Evaluates the freshness check every 10 minutes, so a late day shows without a run."""
    freshness = [c for c in checks if any(k.name == "freshness_check" for k in c.check_keys)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=freshness,
            name="sales_freshness_sensor",
            minimum_interval_seconds=600,
            default_status=dg.DefaultSensorStatus.RUNNING,
        )
