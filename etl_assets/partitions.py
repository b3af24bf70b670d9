"""The one partitioning of the pipeline: UTC days, partition D covering [D 00:00Z, D+1 00:00Z)."""

import dagster as dg

# The first day the Sales API can be asked for. Earlier days are not offered in the UI.
FIRST_DAY = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")
