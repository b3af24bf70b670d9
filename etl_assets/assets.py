"""The asset graph: raw_records → clean_records + rejected_records → sales_table.

Each asset is thin wiring: it calls the Sales API client or the pure transforms, returns a
DataFrame for the warehouse IO manager to persist, and attaches the figures the UI plots.
"""

from datetime import date
from typing import Any

import dagster as dg
import pandas as pd

from etl_assets.partitions import daily_partitions
from etl_assets.raw import raw_frame
from etl_assets.resources import SalesApiResource
from etl_assets.schema import (
    CLEAN_RECORDS,
    RAW_RECORDS,
    REJECTED_RECORDS,
    SALES_TABLE,
    TableContract,
)
from etl_assets.sources.sales_api import SalesApiError
from etl_assets.transform import clean_orders, day_window
from etl_assets.transform.sales import sales_rows

GROUP = "sales"
OWNERS = ["team:data-engineering"]

# Transient API trouble that outlasted the client's own retries gets two more tries of the whole
# step, minutes apart; refused tokens and broken contracts fail at once (Failure, no retry).
EXTRACT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _table_metadata(contract: TableContract, partition_expr: str) -> dict[str, Any]:
    """Definition metadata the IO manager and the UI read: where and how the table is stored."""
    return {
        "schema": contract.schema,
        "partition_expr": partition_expr,
        "dagster/column_schema": contract.table_schema(),
        "dagster/table_name": contract.qualified_name,
    }


def partition_day(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


@dg.asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"python", "duckdb"},
    metadata=_table_metadata(RAW_RECORDS, "partition_date"),
    retry_policy=EXTRACT_RETRY_POLICY,
)
def raw_records(context: dg.AssetExecutionContext, sales_api: SalesApiResource) -> dg.Output:
    """Every element the Sales API served for the day, exactly as served.

    Duplicates, invalid records, non-objects and unknown fields are all kept (as JSON text),
    with the page and position that served each one. Re-materializing replaces the day.
    """
    day = partition_day(context)
    start, end = day_window(day)
    try:
        with sales_api.open_client() as client:
            frame, stats = raw_frame(client.iter_pages(start, end), day, context.run_id)
    except SalesApiError as error:
        if error.retryable:
            raise
        raise dg.Failure(description=str(error), allow_retries=False) from None
    context.log.info(
        f"Fetched {stats.elements} elements in {stats.pages} pages for {day} "
        f"in {stats.seconds:.2f} s"
    )
    return dg.Output(
        frame,
        metadata={
            "elements_served": stats.elements,
            "pages_fetched": stats.pages,
            "extract_seconds": round(stats.seconds, 3),
        },
    )


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
            metadata=_table_metadata(CLEAN_RECORDS, "order_date"),
        ),
        "rejected_records": dg.AssetOut(
            description=(
                "Every served element that could not become a valid order, with its raw payload "
                "and a human-readable reason."
            ),
            owners=OWNERS,
            kinds={"pandas", "duckdb"},
            metadata=_table_metadata(REJECTED_RECORDS, "partition_date"),
        ),
    },
)
def clean_and_rejected_records(
    context: dg.AssetExecutionContext, raw_records: pd.DataFrame
) -> tuple[dg.Output, dg.Output]:
    """Validate, deduplicate and fill the day's raw elements in one pass.

    Nothing disappears: served = clean + rejected + duplicates + superseded, recorded as
    metadata on both outputs.
    """
    day = partition_day(context)
    result = clean_orders(raw_records, day)
    counts = result.counts
    if not counts.balanced:  # a broken invariant must stop the load, not reach the mart
        raise dg.Failure(description=f"Cleaning lost elements for {day}: {counts}")
    figures = {
        "served": counts.served,
        "clean": counts.clean,
        "rejected": counts.rejected,
        "duplicates": counts.duplicates,
        "superseded": counts.superseded,
        "rejected_share": round(counts.rejected_share, 6),
        "rejected_by_reason": dg.MetadataValue.json(counts.rejected_by_reason),
    }
    context.log.info(
        f"{day}: {counts.served} served → {counts.clean} clean, {counts.rejected} rejected, "
        f"{counts.duplicates} duplicates, {counts.superseded} superseded"
    )
    return (
        dg.Output(result.clean, output_name="clean_records", metadata=figures),
        dg.Output(result.rejected, output_name="rejected_records", metadata=figures),
    )


@dg.asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"pandas", "duckdb"},
    metadata=_table_metadata(SALES_TABLE, "order_date"),
)
def sales_table(context: dg.AssetExecutionContext, clean_records: pd.DataFrame) -> dg.Output:
    """The sales fact table for analysts: one row per order, amount = quantity × unit_price.

    Loaded per UTC day; re-materializing a day replaces exactly that day's rows.
    """
    rows = sales_rows(clean_records, loaded_at=pd.Timestamp.now(tz="UTC"), run_id=context.run_id)
    return dg.Output(
        rows,
        metadata={
            "orders": len(rows),
            "revenue": float(rows["amount"].sum()),
        },
    )


sales_assets = [raw_records, clean_and_rejected_records, sales_table]
