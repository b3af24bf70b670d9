"""clean_records → sales_table rows: the analysts' fact table, with amount and load columns.

One SELECT defines the rows. The ``sales_table`` asset runs it inside the warehouse, over
``staging.clean_records`` (a day of orders never leaves DuckDB); ``sales_rows`` runs the same
SELECT over a DataFrame of clean records.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pandas as pd

from etl_assets.contract import ORDERS
from etl_assets.schema import CLEAN_RECORDS, SALES_TABLE
from etl_assets.transform.sql import days_condition, sql_literal


def sales_select(
    source: str, *, loaded_at: datetime, run_id: str, days: list[date] | None = None
) -> str:
    """SQL: one sales_table row per clean record of ``source`` (a table or view name), of the
    consecutive ``days`` only when given; ``amount`` is quantity × unit_price (the contract's
    ``amount_sql``); the other added columns say when and by which run the rows were loaded."""
    where = "TRUE" if days is None else days_condition(CLEAN_RECORDS.partition_column, days)
    added = {
        "amount": ORDERS.amount_sql,
        "_loaded_at": f"TIMESTAMPTZ {sql_literal(loaded_at.astimezone(UTC).isoformat())}",
        "_run_id": sql_literal(run_id),
    }
    columns = ", ".join(
        f"{added[name]} AS {name}" if name in added else name for name in SALES_TABLE.column_names
    )
    return f"SELECT {columns} FROM {source} WHERE {where}"


def sales_rows(clean: pd.DataFrame, *, loaded_at: pd.Timestamp, run_id: str) -> pd.DataFrame:
    """The sales_table rows of a DataFrame of clean records (``sales_select`` over it)."""
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("clean_records", clean)
        select = sales_select("clean_records", loaded_at=loaded_at.to_pydatetime(), run_id=run_id)
        rows = connection.sql(select).df()
    return SALES_TABLE.conform(rows)
