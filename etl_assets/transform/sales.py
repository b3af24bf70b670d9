"""clean_records → sales_table rows: the analysts' fact table, with amount and load columns."""

from __future__ import annotations

import pandas as pd

from etl_assets.schema import SALES_TABLE


def sales_rows(clean: pd.DataFrame, *, loaded_at: pd.Timestamp, run_id: str) -> pd.DataFrame:
    """One row per clean order; ``amount`` is quantity × unit_price (NULL if either is)."""
    rows = clean.copy()
    rows["amount"] = rows["quantity"].astype("float64") * rows["unit_price"].astype("float64")
    rows["_loaded_at"] = loaded_at
    rows["_run_id"] = run_id
    return SALES_TABLE.conform(rows)
