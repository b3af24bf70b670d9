"""Cleaning and the mart's SQL, without Dagster: a day's raw elements (a DuckDB relation, or a
DataFrame for ``clean_orders``) in, clean rows (Arrow), rejections (a DataFrame) and counts out;
``sales.py`` and ``summary.py`` give the SELECTs the warehouse runs."""

from etl_assets.transform.orders import (
    CleaningCounts,
    CleaningResult,
    clean_orders,
    day_window,
    parse_version,
)
from etl_assets.transform.values import Problem

__all__ = [
    "CleaningCounts",
    "CleaningResult",
    "Problem",
    "clean_orders",
    "day_window",
    "parse_version",
]
