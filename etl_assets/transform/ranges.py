"""Several UTC days in one run (a single-run backfill): each day is cleaned on its own.

Cleaning never looks across days — an order belongs to the day of its timestamp — so a range is
just the per-day results put together, with the counts added up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

import duckdb
import pandas as pd

from etl_assets.schema import RAW_RECORDS
from etl_assets.transform.orders import CleaningCounts, CleaningResult, clean_elements
from etl_assets.transform.resolve import LINEAGE

# The raw_records columns cleaning reads: which day, where it was served, and what.
CLEANING_INPUT_COLUMNS = ("partition_date", *LINEAGE, "payload")


def days_between(start: date, end: date) -> list[date]:
    """The UTC days of the half-open window [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


def clean_days(
    connection: duckdb.DuckDBPyConnection, raw: duckdb.DuckDBPyRelation, days: Sequence[date]
) -> CleaningResult:
    """clean_elements for each day of ``days`` on its own rows of ``raw`` (a relation of
    ``connection`` with the raw_records columns ``CLEANING_INPUT_COLUMNS``), combined."""
    results = [
        clean_elements(
            connection,
            raw.filter(f"{RAW_RECORDS.partition_column} = DATE '{day.isoformat()}'").project(
                f"_record_index AS _row, {', '.join(LINEAGE)}, payload AS p"
            ),
            day,
        )
        for day in days
    ]
    if len(results) == 1:
        return results[0]
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
