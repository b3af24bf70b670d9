"""Asset checks: the quality rules of ``transform/quality.py`` as checks the UI shows.

The checks on ``clean_records`` run inside the cleaning step, on the exact frame being written,
and are blocking: when one fails, ``sales_table`` is not materialized for that partition.
Reconciliation and rejected share run there too; schema drift runs in the extract step. The
``column_schema_change`` check of every table runs after the table is written, comparing the
columns the warehouse reported with the declared ones. Freshness is a ``FreshnessPolicy`` on
``sales_table`` (``assets.py``), which Dagster evaluates without a check or sensor of ours.
"""

from collections.abc import Iterator, Sequence
from datetime import date

import dagster as dg
import pandas as pd

from etl_assets.contract import ORDERS
from etl_assets.transform import quality
from etl_assets.transform.orders import CleaningCounts, day_window
from etl_assets.warehouse.table_schema import declared_schema

CLEAN = dg.AssetKey("clean_records")
RAW = dg.AssetKey("raw_records")
SALES = dg.AssetKey("sales_table")


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


# (name, description) of the blocking rules on clean_records, in the order they are evaluated;
# the required columns and the minimums are the order contract's.
CLEAN_RULES = {
    "unique_order_id": "Each order_id appears once per partition.",
    "required_fields_present": (
        f"{_listed(quality.REQUIRED_FIELDS)} are never NULL, so sales_table's amount is never "
        "NULL either."
    ),
    **{
        quality.minimum_rule_name(f): f"{f.column_name} is ≥ {f.minimum:g}."
        for f in ORDERS.fields
        if f.minimum is not None
    },
    "ordered_at_inside_partition": "Every ordered_at lies inside the partition's UTC day(s).",
    "served_reconciles": "served = clean + rejected + duplicates + superseded.",
}
REJECTED_SHARE = "rejected_share_below_threshold"
SCHEMA_DRIFT = "source_schema_drift"
COLUMN_SCHEMA_CHANGE = "column_schema_change"

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
        **quality.minimum_rules(clean),
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


def column_schema_differences(declared: dg.TableSchema, written: dg.TableSchema) -> list[str]:
    """How the written table's columns differ from the declared ones: added, missing or retyped
    (names compared case-insensitively, as DuckDB does; types by their DuckDB names)."""
    declared_types = {c.name.casefold(): c.type.upper() for c in declared.columns}
    written_types = {c.name.casefold(): c.type.upper() for c in written.columns}
    added = [c.name for c in written.columns if c.name.casefold() not in declared_types]
    missing = [c.name for c in declared.columns if c.name.casefold() not in written_types]
    retyped = [
        f"{c.name}: declared {c.type}, written {written_types[c.name.casefold()]}"
        for c in declared.columns
        if c.name.casefold() in written_types
        and written_types[c.name.casefold()] != declared_types[c.name.casefold()]
    ]
    return (
        [f"added (not declared): {name}" for name in added]
        + [f"missing (declared): {name}" for name in missing]
        + [f"retyped: {change}" for change in retyped]
    )


def column_schema_result(
    asset: dg.AssetKey, declared: dg.TableSchema, latest: dg.AssetMaterialization | None
) -> dg.AssetCheckResult:
    """The ``column_schema_change`` result for the asset's latest materialization."""
    if latest is None:
        rule = quality.RuleResult(True, "not materialized yet: nothing to compare", {})
    else:
        written = declared_schema(latest.metadata)
        if written is None:
            rule = quality.RuleResult(False, "the latest materialization has no column schema", {})
        else:
            differences = column_schema_differences(declared, written)
            description = "; ".join(differences) if differences else "columns and types as declared"
            rule = quality.RuleResult(not differences, description, {"differences": differences})
    return _result(COLUMN_SCHEMA_CHANGE, asset, rule, dg.AssetCheckSeverity.WARN)


def column_schema_checks(
    assets: Sequence[dg.AssetsDefinition],
) -> list[dg.AssetChecksDefinition]:
    """``column_schema_change`` on every table that declares a ``dagster/column_schema``: warns
    when the latest write added, lost or retyped a column against the declaration. One step runs
    the checks of all the tables a run selects."""
    declared = {
        key: schema
        for assets_def in assets
        for key, spec in assets_def.specs_by_key.items()
        if (schema := declared_schema(spec.metadata)) is not None
    }

    @dg.multi_asset_check(
        specs=[
            dg.AssetCheckSpec(
                COLUMN_SCHEMA_CHANGE,
                asset=key,
                description="Warns when the table's columns (names, types) differ from the "
                "declared column schema: a column added, missing or retyped.",
            )
            for key in declared
        ],
        can_subset=True,
        name="column_schema_checks",
    )
    def _column_schema_checks(
        context: dg.AssetCheckExecutionContext,
    ) -> Iterator[dg.AssetCheckResult]:
        for check_key in context.selected_asset_check_keys:
            asset = check_key.asset_key
            records = context.instance.fetch_materializations(asset, limit=1).records
            latest = records[0].asset_materialization if records else None
            yield column_schema_result(asset, declared[asset], latest)

    return [_column_schema_checks]
