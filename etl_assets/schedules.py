"""The daily schedule. Its partition keys come from the partitions definition itself, so the
schedule, backfills and the UI always name the same days.

Orders change after the day they were placed (paid → shipped → returned) and the API serves them
under the day of their timestamp, so each tick reloads the last ``ETL_SCHEDULE_LOOKBACK_DAYS``
complete days (default 3) in one run: late changes land, and each reload replaces its day."""

from datetime import date, timedelta

import dagster as dg

from etl_assets.jobs import daily_sales_job
from etl_assets.partitions import daily_partitions
from etl_assets.settings import DEFAULT_CRON, DEFAULT_SCHEDULE_LOOKBACK_DAYS, DEFAULT_TIMEZONE

# Dagster's run tags for a run over a partition range (what a single-run backfill sets).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def build_daily_schedule(
    cron: str = DEFAULT_CRON,
    timezone: str = DEFAULT_TIMEZONE,
    lookback_days: int = DEFAULT_SCHEDULE_LOOKBACK_DAYS,
) -> dg.ScheduleDefinition:
    """On each tick of ``cron``, materialize the ``lookback_days`` newest complete UTC days
    (normally those ending yesterday) in one run."""
    days = "day" if lookback_days == 1 else f"{lookback_days} days"

    @dg.schedule(
        name="daily_sales_schedule",
        job=daily_sales_job,
        cron_schedule=cron,
        execution_timezone=timezone,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=(
            f"Reloads the newest complete UTC {days} ({cron}, {timezone}) from the Sales API "
            "to sales_table in one run, so late changes to orders land; "
            "sales_summary_sensor then updates daily_sales_summary."
        ),
    )
    def daily_sales_schedule(context: dg.ScheduleEvaluationContext):
        tick_time = context.scheduled_execution_time
        # The UTC day that ended most recently before the tick: the day containing tick - 24 h.
        day = daily_partitions.get_partition_key_for_timestamp(
            (tick_time - timedelta(days=1)).timestamp()
        )
        # The partitions' first day (ETL_PARTITIONS_START), also when it is still to come.
        first = daily_partitions.start.date().isoformat()
        if day < first:
            return dg.SkipReason(
                f"No complete day to load before {tick_time}: the partitions start on {first}"
            )
        start = max(
            first, (date.fromisoformat(day) - timedelta(days=lookback_days - 1)).isoformat()
        )
        # The run key names the days: a re-evaluated tick launches nothing twice.
        if start == day:
            return dg.RunRequest(run_key=day, partition_key=day)
        return dg.RunRequest(
            run_key=f"{start}..{day}", tags={RANGE_START_TAG: start, RANGE_END_TAG: day}
        )

    return daily_sales_schedule
