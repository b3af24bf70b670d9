"""sales_table rows → revenue and order counts per day by region, product and currency.

One SELECT defines the summary. The ``daily_sales_summary`` asset runs it inside the warehouse
over ``mart.sales_table`` and ``staging.rejected_records``; ``daily_summary`` runs it over
DataFrames.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from etl_assets.schema import DAILY_SALES_SUMMARY, REJECTED_RECORDS, SALES_TABLE
from etl_assets.transform.sql import days_condition

GROUP_KEYS = ["region", "product", "currency"]


def summary_select(sales: str, rejected: str, days: list[date]) -> str:
    """SQL: one row per day and (region, product, currency) of ``sales`` (NULL keys form their
    own group). Revenue is summed per currency, never across currencies; ``rejected_rows`` is
    the day's count of ``rejected``, repeated on each row so one query shows data quality too.
    """
    day = SALES_TABLE.partition_column
    rejected_day = REJECTED_RECORDS.partition_column
    keys = ", ".join(GROUP_KEYS)
    return f"""
WITH rejected_per_day AS (
    SELECT CAST({rejected_day} AS DATE) AS day, count(*) AS rejected_rows FROM {rejected}
    WHERE {days_condition(f"CAST({rejected_day} AS DATE)", days)} GROUP BY ALL
), groups AS (
    SELECT CAST({day} AS DATE) AS order_date, {keys}, count(DISTINCT order_id) AS orders,
        sum(quantity) AS units, sum(amount) AS revenue
    FROM {sales} WHERE {days_condition(f"CAST({day} AS DATE)", days)} GROUP BY ALL
)
SELECT {", ".join(DAILY_SALES_SUMMARY.column_names[:-1])},
    coalesce(rejected_per_day.rejected_rows, 0) AS rejected_rows
FROM groups LEFT JOIN rejected_per_day ON rejected_per_day.day = groups.order_date
ORDER BY order_date, {keys} NULLS LAST
"""


def daily_summary(sales: pd.DataFrame, day: date, rejected_rows: int) -> pd.DataFrame:
    """``summary_select`` over a DataFrame of one day's sales_table rows and a day with
    ``rejected_rows`` rejected elements."""
    rejected = pd.DataFrame({REJECTED_RECORDS.partition_column: [day] * rejected_rows})
    with duckdb.connect() as connection:
        connection.register("sales", sales.assign(**{SALES_TABLE.partition_column: day}))
        connection.register("rejected", rejected)
        summary = connection.sql(summary_select("sales", "rejected", [day])).df()
    return DAILY_SALES_SUMMARY.conform(summary)
