"""sales_table rows of one day → revenue and order counts by region, product and currency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd

from etl_assets.schema import DAILY_SALES_SUMMARY

GROUP_KEYS = ["region", "product", "currency"]


def daily_summary(sales: pd.DataFrame, day: date, rejected_rows: int) -> pd.DataFrame:
    """One row per (region, product, currency) of the day; NULL keys form their own group.

    Revenue is summed per currency and never across currencies. ``rejected_rows`` is the day's
    count from rejected_records, repeated on each row so a single query shows data quality too.
    """
    grouped = (
        sales.groupby(GROUP_KEYS, dropna=False, sort=True)
        .agg(
            orders=("order_id", "nunique"),
            units=("quantity", "sum"),
            revenue=("amount", "sum"),
        )
        .reset_index()
    )
    grouped["order_date"] = pd.Timestamp(day.isoformat())
    grouped["rejected_rows"] = rejected_rows
    return DAILY_SALES_SUMMARY.conform(grouped)


def summaries_for_days(
    sales: pd.DataFrame, days: Sequence[date], rejected_per_day: Mapping[date, int]
) -> pd.DataFrame:
    """daily_summary for each day of a (backfill) range, from that day's rows only."""
    if len(days) == 1:
        return daily_summary(sales, days[0], rejected_per_day.get(days[0], 0))
    order_days = pd.to_datetime(sales["order_date"]).dt.date
    return pd.concat(
        [
            daily_summary(sales.loc[order_days == day], day, rejected_per_day.get(day, 0))
            for day in days
        ],
        ignore_index=True,
    )
