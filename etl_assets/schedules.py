"""The daily schedule. Its partition keys come from the partitions definition itself, so the
schedule, backfills and the UI always name the same days."""

from datetime import timedelta

import dagster as dg

from etl_assets.jobs import daily_sales_job
from etl_assets.partitions import daily_partitions

# Shortly after midnight UTC: yesterday's window [D, D+1) is then closed.
DEFAULT_CRON = "15 0 * * *"
DEFAULT_TIMEZONE = "UTC"
CRON_VARIABLE = "ETL_SCHEDULE_CRON"
TIMEZONE_VARIABLE = "ETL_SCHEDULE_TIMEZONE"


def build_daily_schedule(
    cron: str = DEFAULT_CRON, timezone: str = DEFAULT_TIMEZONE
) -> dg.ScheduleDefinition:
    """On each tick of ``cron``, materialize the newest complete UTC day (normally yesterday)."""

    @dg.schedule(
        name="daily_sales_schedule",
        job=daily_sales_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            f"Loads the newest complete UTC day ({cron}, {timezone}) from the Sales API to "
            "sales_table; sales_summary_sensor then updates daily_sales_summary."
        ),
    )
    def daily_sales_schedule(context: dg.ScheduleEvaluationContext):
        tick_time = context.scheduled_execution_time
        # The UTC day that ended most recently before the tick: the day containing tick - 24 h.
        day = daily_partitions.get_partition_key_for_timestamp(
            (tick_time - timedelta(days=1)).timestamp()
        )
        if day < daily_partitions.get_first_partition_key():
            return dg.SkipReason(f"No complete day before {tick_time} to load")
        # One run per day whatever the tick: a re-evaluated tick launches nothing twice.
        return dg.RunRequest(run_key=day, partition_key=day)

    return daily_sales_schedule
