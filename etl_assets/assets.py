"""The asset graph: raw_records → clean_records + rejected_records → sales_table → summary.

Each asset is thin wiring: it calls the Sales API client or the cleaning code, hands its rows to
the warehouse IO manager (a DataFrame, the cleaning's Arrow result, or a ``WarehouseQuery`` the
warehouse runs itself), and attaches the figures the UI plots. Cleaning reads ``raw_records``
where it is stored (``WarehouseSlice``).
"""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import pyarrow as pa
from pydantic import Field

from etl_assets.checks import (
    clean_records_check_results,
    clean_records_check_specs,
    raw_records_check_results,
    raw_records_check_specs,
)
from etl_assets.metadata import (
    column_lineage,
    markdown_preview,
    orders_metadata,
    same_name_lineage,
    summary_metadata,
    table_preview,
    table_schema,
)
from etl_assets.partitions import daily_partitions
from etl_assets.raw import raw_rows
from etl_assets.resources import SalesApiResource
from etl_assets.schema import (
    CLEAN_RECORDS,
    DAILY_SALES_SUMMARY,
    RAW_RECORDS,
    REJECTED_RECORDS,
    SALES_TABLE,
    TableContract,
)
from etl_assets.sources.sales_api import SalesApiError
from etl_assets.transform import day_window
from etl_assets.transform.orders import CleaningCounts
from etl_assets.transform.quality import (
    CLEAN_RULE_COLUMNS,
    DEFAULT_MAX_REJECTED_SHARE,
    BackgroundFieldProfile,
)
from etl_assets.transform.ranges import CLEANING_INPUT_COLUMNS, clean_days, days_between
from etl_assets.transform.sales import sales_select
from etl_assets.transform.summary import summary_select
from etl_assets.warehouse import WarehouseQuery, WarehouseSlice
from etl_assets.warehouse.changes import CHANGE_KEY

GROUP = "sales"
OWNERS = ["team:data-engineering"]
# DuckDB allows one writer per file: every step that writes takes a slot of this pool, so parallel
# runs (backfills) queue for the warehouse instead of failing on its lock (limit in dagster.yaml).
WAREHOUSE_POOL = "duckdb_warehouse"


# Transient API trouble that outlasted the client's own retries gets two more tries of the whole
# step, minutes apart; refused tokens and broken contracts fail at once (Failure, no retry).
EXTRACT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


# By 02:00 UTC each day sales_table must have been loaded since midnight (the 00:15 schedule
# loads the days that just ended): Dagster marks it stale in the UI otherwise.
SALES_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 2 * * *", lower_bound_delta=timedelta(hours=2), timezone="UTC"
)


def _table_metadata(contract: TableContract) -> dict[str, Any]:
    """Definition metadata the IO manager and the UI read: where and how the table is stored."""
    metadata = {
        "schema": contract.schema,
        "partition_expr": contract.partition_column,
        "dagster/column_schema": table_schema(contract),
        "dagster/table_name": contract.qualified_name,
    }
    if contract.change_key:
        metadata[CHANGE_KEY] = ":".join(contract.change_key)
    return metadata


# The columns each table's preview shows (all of clean_records).
RAW_PREVIEW = ("_record_index", "_page", "payload")
REJECTED_PREVIEW = ["order_id", "reason", "payload"]


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The UTC days this run covers: one, or several in a single-run backfill."""
    window = context.partition_time_window
    return days_between(window.start.date(), window.end.date())


def partition_label(days: list[date]) -> str:
    return str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]}"


def add_day_metadata(
    context: dg.AssetExecutionContext, asset: str, by_day: dict[date, dict[str, Any]]
) -> None:
    """A run over several days: each day's materialization of ``asset`` gets its own figures
    (they replace the run's totals there). Call before the output is yielded."""
    if len(by_day) < 2:
        return
    for day, figures in by_day.items():
        context.add_asset_metadata(figures, asset_key=asset, partition_key=day.isoformat())


@dg.asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "duckdb"},
    metadata=_table_metadata(RAW_RECORDS),
    retry_policy=EXTRACT_RETRY_POLICY,
    check_specs=raw_records_check_specs,
    pool=WAREHOUSE_POOL,
)
def raw_records(
    context: dg.AssetExecutionContext, sales_api: SalesApiResource
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Every element the Sales API served for the day, as served.

    Duplicates, invalid records, non-objects and unknown fields are all kept (as JSON text),
    with the page and position that served each one. Re-materializing replaces the day.
    """
    tables, pages, seconds = [], 0, 0.0
    by_day: dict[date, dict[str, Any]] = {}
    # The drift profile runs on the other core while pages are still being fetched, and its
    # last parts while the warehouse writes the day (Dagster writes an output as it is yielded).
    with BackgroundFieldProfile() as profile:
        try:
            with sales_api.open_client() as client:
                for day in partition_days(context):
                    start, end = day_window(day)
                    served = client.iter_pages(start, end)
                    rows, stats = raw_rows(served, day, context.run.run_id, profile.add)
                    context.log.info(
                        f"Fetched {stats.elements} elements in {stats.pages} pages for {day} "
                        f"in {stats.seconds:.2f} s"
                    )
                    tables.append(rows)
                    pages, seconds = pages + stats.pages, seconds + stats.seconds
                    by_day[day] = {
                        "elements_served": stats.elements,
                        "pages_fetched": stats.pages,
                        "extract_seconds": round(stats.seconds, 3),
                        "preview": table_preview(RAW_RECORDS, rows, RAW_PREVIEW),
                    }
        except SalesApiError as error:
            if error.retryable:
                raise
            raise dg.Failure(description=str(error), allow_retries=False) from None
        rows = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        add_day_metadata(context, "raw_records", by_day)
        yield dg.Output(
            rows,  # Arrow: the warehouse writes it without a DataFrame of the day's payloads
            metadata={
                "elements_served": rows.num_rows,
                "pages_fetched": pages,
                "extract_seconds": round(seconds, 3),
                "preview": table_preview(RAW_RECORDS, rows, RAW_PREVIEW),
            },
        )
        del rows, tables  # written: the profile's last parts need the memory more
        served_fields = profile.result()
    yield from raw_records_check_results(served_fields)


class CleaningConfig(dg.Config):
    max_rejected_share: float = Field(
        default=DEFAULT_MAX_REJECTED_SHARE,
        ge=0.0,
        le=1.0,
        description="Rejected share of the served elements above which a check warns.",
    )


def cleaning_figures(counts: CleaningCounts) -> dict[str, Any]:
    """Where the served elements went, as the UI plots it."""
    return {
        "served": counts.served,
        "clean": counts.clean,
        "rejected": counts.rejected,
        "duplicates": counts.duplicates,
        "superseded": counts.superseded,
        "rejected_share": round(counts.rejected_share, 6),
        "rejected_by_reason": dg.MetadataValue.json(counts.rejected_by_reason),
    }


@dg.multi_asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    outs={
        "clean_records": dg.AssetOut(
            description=(
                "One validated row per order of the day: the latest version wins, and fields "
                "it lacks are filled from earlier versions of the same order only."
            ),
            owners=OWNERS,
            kinds={"pandas", "duckdb"},
            metadata=_table_metadata(CLEAN_RECORDS),
        ),
        "rejected_records": dg.AssetOut(
            description=(
                "Every served element that could not become a valid order, with its raw payload "
                "and a human-readable reason."
            ),
            owners=OWNERS,
            kinds={"pandas", "duckdb"},
            metadata=_table_metadata(REJECTED_RECORDS),
        ),
    },
    # Only what cleaning reads: the payloads and their lineage, not the per-row URL and run id.
    ins={"raw_records": dg.AssetIn(metadata={"columns": list(CLEANING_INPUT_COLUMNS)})},
    check_specs=clean_records_check_specs,
    pool=WAREHOUSE_POOL,
)
def clean_and_rejected_records(
    context: dg.AssetExecutionContext, config: CleaningConfig, raw_records: WarehouseSlice
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Validate, deduplicate and fill the day's raw elements in one pass.

    Nothing disappears: served = clean + rejected + duplicates + superseded, recorded as
    metadata on both outputs and checked (blocking) before sales_table may load.
    """
    days = partition_days(context)
    # The payloads are typed where they are stored; the session closes before the writes.
    result = clean_days(raw_records.open, days)
    counts = result.counts
    figures = cleaning_figures(counts)
    by_day = {day: cleaning_figures(day_counts) for day, day_counts in result.counts_by_day.items()}
    if len(days) > 1:
        rejected_day = result.rejected[REJECTED_RECORDS.partition_column]
        previews = {
            "clean_records": {
                day: table_preview(CLEAN_RECORDS, result.clean_rows, day=day) for day in by_day
            },
            "rejected_records": {
                day: markdown_preview(
                    result.rejected.loc[rejected_day == pd.Timestamp(day), REJECTED_PREVIEW]
                )
                for day in by_day
            },
        }
        for name, preview in previews.items():
            per_day = {day: {**found, "preview": preview[day]} for day, found in by_day.items()}
            add_day_metadata(context, name, per_day)
    context.log.info(
        f"{partition_label(days)}: {counts.served} served → {counts.clean} clean, "
        f"{counts.rejected} rejected, {counts.duplicates} duplicates, "
        f"{counts.superseded} superseded"
    )
    yield dg.Output(
        result.clean_rows,  # the Arrow result: written without becoming a DataFrame
        output_name="clean_records",
        metadata={**figures, "preview": table_preview(CLEAN_RECORDS, result.clean_rows)},
    )
    yield dg.Output(
        result.rejected,
        output_name="rejected_records",
        metadata={**figures, "preview": markdown_preview(result.rejected[REJECTED_PREVIEW])},
    )
    checked = CLEAN_RECORDS.from_arrow(result.clean_rows, CLEAN_RULE_COLUMNS)
    yield from clean_records_check_results(checked, counts, days, config.max_rejected_share)


_SALES_LINEAGE = {
    **same_name_lineage("clean_records", CLEAN_RECORDS.column_names),
    "amount": [("clean_records", "quantity"), ("clean_records", "unit_price")],
}


@dg.asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"sql", "duckdb"},
    metadata=_table_metadata(SALES_TABLE),
    # Read inside the warehouse by the write itself (WarehouseQuery), not loaded as a DataFrame.
    deps=[dg.AssetDep("clean_records")],
    freshness_policy=SALES_FRESHNESS,
    pool=WAREHOUSE_POOL,
)
def sales_table(context: dg.AssetExecutionContext) -> dg.Output:
    """The sales fact table for analysts: one row per order, amount = quantity × unit_price.

    Loaded per UTC day; re-materializing a day replaces exactly that day's rows.
    """
    query = sales_select(
        CLEAN_RECORDS.qualified_name,
        loaded_at=datetime.now(UTC),
        run_id=context.run.run_id,
        days=partition_days(context),
    )
    lineage = {c: deps for c, deps in _SALES_LINEAGE.items() if c in SALES_TABLE.column_names}
    return dg.Output(
        WarehouseQuery(query, describe=orders_metadata),
        metadata={"dagster/column_lineage": column_lineage(lineage)},
    )


_SUMMARY_LINEAGE = {
    "order_date": [("sales_table", "order_date")],
    **same_name_lineage("sales_table", ["region", "product", "currency"]),
    "orders": [("sales_table", "order_id")],
    "units": [("sales_table", "quantity")],
    "revenue": [("sales_table", "amount")],
    "rejected_rows": [("rejected_records", "partition_date")],
}


@dg.asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"sql", "duckdb"},
    metadata=_table_metadata(DAILY_SALES_SUMMARY),
    # Read inside the warehouse by the write itself (WarehouseQuery), not loaded as DataFrames.
    deps=[dg.AssetDep("sales_table"), dg.AssetDep("rejected_records")],
    pool=WAREHOUSE_POOL,
)
def daily_sales_summary(context: dg.AssetExecutionContext) -> dg.Output:
    """Revenue and order counts of the day by region, product and currency.

    Never adds amounts across currencies. Carries the day's rejected-row count so one query
    shows both the business figures and the data quality behind them.
    """
    query = summary_select(
        SALES_TABLE.qualified_name, REJECTED_RECORDS.qualified_name, partition_days(context)
    )
    return dg.Output(
        WarehouseQuery(query, describe=summary_metadata),
        metadata={"dagster/column_lineage": column_lineage(_SUMMARY_LINEAGE)},
    )


sales_assets = [raw_records, clean_and_rejected_records, sales_table, daily_sales_summary]
