"""The one partitioning of the pipeline: UTC days, partition D covering [D 00:00Z, D+1 00:00Z)."""

import dagster as dg

from etl_assets.settings import partitions_start

# The first day offered in the UI and to backfills: ETL_PARTITIONS_START (default 2025-01-01).
FIRST_DAY = partitions_start()

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")
