"""Several UTC days in one run (a single-run backfill): each day is cleaned on its own.

Cleaning never looks across days — an order belongs to the day of its timestamp — so a range is
just the per-day results put together, with the counts added up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd

from etl_assets.transform.orders import CleaningCounts, CleaningResult, clean_orders
from etl_assets.transform.resolve import LINEAGE

# The raw_records columns cleaning reads: which day, where it was served, and what.
CLEANING_INPUT_COLUMNS = ("partition_date", *LINEAGE, "payload")


def days_between(start: date, end: date) -> list[date]:
    """The UTC days of the half-open window [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


def rows_of_day(frame: pd.DataFrame, column: str, day: date) -> pd.DataFrame:
    return frame.loc[pd.to_datetime(frame[column]).dt.date == day]


def clean_days(raw: pd.DataFrame, days: Sequence[date]) -> CleaningResult:
    """clean_orders for each day of ``days`` on its own rows of ``raw``, combined."""
    if len(days) == 1:
        return clean_orders(raw, days[0])
    results = [clean_orders(rows_of_day(raw, "partition_date", day), day) for day in days]
    reasons: Counter[str] = Counter()
    for result in results:
        reasons.update(result.counts.rejected_by_reason)
    counts = CleaningCounts(
        served=sum(r.counts.served for r in results),
        clean=sum(r.counts.clean for r in results),
        rejected=sum(r.counts.rejected for r in results),
        duplicates=sum(r.counts.duplicates for r in results),
        superseded=sum(r.counts.superseded for r in results),
        rejected_by_reason=dict(reasons.most_common()),
    )
    return CleaningResult(
        clean=pd.concat([r.clean for r in results], ignore_index=True),
        rejected=pd.concat([r.rejected for r in results], ignore_index=True),
        counts=counts,
    )
