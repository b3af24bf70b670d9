"""Pure transformation logic: DataFrames in, DataFrames out, no Dagster."""

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
