"""Materialization metadata the UI shows: previews, per-currency revenue, column lineage."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import dagster as dg
import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl_assets.schema import TableContract

PREVIEW_ROWS = 5


def table_schema(contract: TableContract) -> dg.TableSchema:
    """The column schema the UI shows and the IO manager creates the table from."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=c.duckdb_type,
                description=c.description,
                tags=c.tags,
                constraints=dg.TableColumnConstraints(nullable=c.nullable),
            )
            for c in contract.columns
        ]
    )


def markdown_preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The first rows as a markdown table (pandas renders it; tabulate comes with Dagster)."""
    if frame.empty:
        return dg.MetadataValue.md("_no rows_")
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False))


def table_preview(
    contract: TableContract,
    rows: pa.Table,
    columns: Sequence[str] | None = None,
    day: date | None = None,
) -> dg.MetadataValue:
    """``markdown_preview`` of an Arrow table's first rows (of ``day``), shown as the contract's
    DataFrame would show them: only those rows are converted."""
    if day is not None:
        dates = rows.column(contract.partition_column)
        rows = rows.filter(pc.equal(dates, pa.scalar(day, dates.type)))
    return markdown_preview(contract.from_arrow(rows.slice(0, PREVIEW_ROWS), columns))


def _revenue_figures(totals: Iterable[tuple[Any, Any]]) -> dict[str, float]:
    """``revenue_EUR``-style figures; amounts in different currencies are never added up."""
    return {
        f"revenue_{'unknown' if pd.isna(currency) else currency}": round(float(total), 2)
        for currency, total in totals
    }


def orders_metadata(rows: duckdb.DuckDBPyRelation) -> dict[str, Any]:
    """``orders``, revenue by currency and a preview of order rows the warehouse computed."""
    [(orders,)] = rows.aggregate("count(*)").fetchall()
    return {
        "orders": int(orders),
        **_revenue_figures(rows.aggregate("currency, sum(amount)", "currency").fetchall()),
        "preview": markdown_preview(rows.limit(PREVIEW_ROWS).df()),
    }


def summary_metadata(rows: duckdb.DuckDBPyRelation) -> dict[str, Any]:
    """``groups``, ``orders``, ``rejected_rows``, revenue by currency and a preview of the
    summary rows the warehouse computed."""
    [(groups, orders)] = rows.aggregate("count(*), coalesce(sum(orders), 0)").fetchall()
    [(rejected,)] = (
        rows.aggregate("order_date, any_value(rejected_rows) AS n", "order_date")
        .aggregate("coalesce(sum(n), 0)")
        .fetchall()
    )
    return {
        "groups": int(groups),
        "orders": int(orders),
        "rejected_rows": int(rejected),
        **_revenue_figures(rows.aggregate("currency, sum(revenue)", "currency").fetchall()),
        "preview": markdown_preview(rows.limit(20).df(), rows=20),
    }


def column_lineage(
    sources: Mapping[str, Sequence[tuple[str, str]]],
) -> dg.TableColumnLineage:
    """``{"amount": [("clean_records", "quantity"), ...]}`` → Dagster's column lineage."""
    return dg.TableColumnLineage(
        deps_by_column={
            column: [
                dg.TableColumnDep(asset_key=dg.AssetKey(asset), column_name=source)
                for asset, source in deps
            ]
            for column, deps in sources.items()
        }
    )


def same_name_lineage(asset: str, columns: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    return {column: [(asset, column)] for column in columns}
