"""Asset jobs: what the schedule and the summary sensor launch.

Which mechanism triggers what (so nothing runs twice):
- ``daily_sales_schedule`` runs ``daily_sales_job``: raw_records → clean/rejected → sales_table
  for the last ``ETL_SCHEDULE_LOOKBACK_DAYS`` complete UTC days, in one run over that partition
  range. It does not include the summary.
- ``sales_summary_sensor`` runs ``daily_sales_summary_job`` for every partition whose
  sales_table changed — after the schedule, a UI click, a backfill or the CLI — unless the run
  that changed it already materialized the summary too.
"""

import dagster as dg

SUMMARY = dg.AssetKey("daily_sales_summary")

daily_sales_job = dg.define_asset_job(
    "daily_sales_job",
    selection=dg.AssetSelection.assets("raw_records").downstream()
    - dg.AssetSelection.assets(SUMMARY),
    description=(
        "The run's UTC days (the schedule: the last ETL_SCHEDULE_LOOKBACK_DAYS, in one run) "
        "from the Sales API to mart.sales_table."
    ),
)

daily_sales_summary_job = dg.define_asset_job(
    "daily_sales_summary_job",
    selection=dg.AssetSelection.assets(SUMMARY),
    description="Recompute mart.daily_sales_summary for one day (launched by the sensor).",
)
