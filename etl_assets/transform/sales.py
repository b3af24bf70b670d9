"""clean_records → sales_table rows: the analysts' fact table, with amount and load columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from etl_assets.schema import SALES_TABLE, UTC_TIMESTAMP


def sales_rows(clean: pd.DataFrame, *, loaded_at: pd.Timestamp, run_id: str) -> pd.DataFrame:
    """One row per clean order; ``amount`` is quantity × unit_price (NULL if either is).

    The clean columns are reused, not copied; the run id is one categorical value.
    """
    amount = clean["quantity"].astype("float64") * clean["unit_price"].astype("float64")
    rows = {name: clean[name] for name in SALES_TABLE.column_names if name in clean.columns}
    run = pd.Categorical.from_codes(np.zeros(len(clean), dtype=np.int8), [run_id])
    frame = pd.DataFrame(
        {
            **rows,
            "amount": amount,
            "_loaded_at": pd.Series(loaded_at, index=clean.index, dtype=UTC_TIMESTAMP),
            "_run_id": pd.Series(run, index=clean.index),
        },
        copy=False,
    )
    return SALES_TABLE.conform(frame)
