"""Several UTC days in one run (a single-run backfill): each day is cleaned on its own.

Cleaning never looks across days — an order belongs to the day of its timestamp — so a range is
just the per-day results put together, with the counts added up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import date, timedelta

import duckdb

from etl_assets.schema import RAW_RECORDS
from etl_assets.transform.orders import CleaningResult, clean_elements, combine_days
from etl_assets.transform.resolve import LINEAGE

# The raw_records columns cleaning reads: which day, where it was served, and what.
CLEANING_INPUT_COLUMNS = ("partition_date", *LINEAGE, "payload")


def days_between(start: date, end: date) -> list[date]:
    """The UTC days of the half-open window [start, end)."""
    return [start + timedelta(days=n) for n in range((end - start).days)]


RawSession = Callable[
    [], AbstractContextManager[tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation]]
]
"""Opens a DuckDB session and the raw elements in it (``CLEANING_INPUT_COLUMNS``)."""


def clean_days(open_raw: RawSession, days: Sequence[date]) -> CleaningResult:
    """clean_elements for each day of ``days`` on its own rows of the raw elements, combined.

    The session is closed before the days' clean rows (DuckDB's Arrow results) are combined and
    handed on: DuckDB's working memory and the day's rows are never held at once."""
    with open_raw() as (connection, raw):
        cleaned = [
            clean_elements(
                connection,
                raw.filter(f"{RAW_RECORDS.partition_column} = DATE '{day.isoformat()}'").project(
                    f"_record_index AS _row, {', '.join(LINEAGE)}, payload AS p"
                ),
                day,
            )
            for day in days
        ]
    return combine_days(cleaned)
