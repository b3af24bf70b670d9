"""Sensors: summarize the days whose sales changed, and tell people when a run fails."""

import os
from collections.abc import Mapping

import dagster as dg

from etl_assets.alerts import (
    WEBHOOK_VARIABLE,
    error_with_causes,
    failure_text,
    post_alert,
    webhook_url,
)
from etl_assets.jobs import SUMMARY, daily_sales_summary_job
from etl_assets.resources import TOKEN_VARIABLE
from etl_assets.schedules import RANGE_END_TAG, RANGE_START_TAG

SALES = dg.AssetKey("sales_table")
SENSOR_INTERVAL_SECONDS = 15
_PAGE = 1000


def _sales_events_since(instance: dg.DagsterInstance, after: int | None, upto: int) -> list:
    """Every sales_table materialization with after < storage id <= upto, oldest first."""
    records, cursor = [], None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=SALES, after_storage_id=after, before_storage_id=upto + 1
            ),
            limit=_PAGE,
            cursor=cursor,
            ascending=True,
        )
        records.extend(page.records)
        if not page.has_more:
            return records
        cursor = page.cursor


def _summary_already_covered(instance: dg.DagsterInstance, record: dg.EventLogRecord) -> bool:
    """True when the summary of that day is newer than the event, or its own run makes it."""
    run = instance.get_run_by_id(record.run_id)
    if run is not None and run.asset_selection and SUMMARY in run.asset_selection:
        return True
    newer = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=SUMMARY,
            asset_partitions=[record.partition_key],
            after_storage_id=record.storage_id,
        ),
        limit=1,
    )
    return bool(newer.records)


@dg.asset_sensor(
    asset_key=SALES,
    job=daily_sales_summary_job,
    name="sales_summary_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Requests daily_sales_summary for exactly the days whose sales_table changed. The cursor "
        "is the last event handled, so no event is missed; run keys make a re-evaluated tick "
        "launch nothing twice."
    ),
)
def sales_summary_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    # The decorator hands over the newest event only and then moves the cursor to it; every
    # event since the previous cursor is read here so that no changed day is missed. An event
    # newer than the cursor the decorator saves is seen again next tick, with the same run key.
    cursor = context.cursor or ""
    previous = int(cursor) if cursor.isascii() and cursor.isdigit() else None
    records = _sales_events_since(context.instance, previous, _latest_storage_id(context.instance))
    newest_per_day: dict[str, dg.EventLogRecord] = {}
    for record in records:
        if record.partition_key:
            newest_per_day[record.partition_key] = record
    requested = 0
    for day, record in sorted(newest_per_day.items()):
        if _summary_already_covered(context.instance, record):
            continue
        requested += 1
        yield dg.RunRequest(
            run_key=f"daily_sales_summary:{day}:{record.storage_id}",
            partition_key=day,
            tags={"etl_assets/trigger": "sales_summary_sensor"},
        )
    if not requested:
        yield dg.SkipReason(f"{len(records)} new sales_table event(s); every summary is current")


def _latest_storage_id(instance: dg.DagsterInstance) -> int:
    latest = instance.fetch_materializations(SALES, limit=1).records
    return latest[0].storage_id if latest else 0


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    # A run started outside the daemon and the webserver (``dagster asset materialize`` from cron
    # or CI) belongs to no code location, and Dagster shows a sensor only the runs of its own
    # location unless it watches them all; ``is_this_projects_run`` then keeps this project's runs.
    monitor_all_code_locations=True,
    description=(
        f"Logs every failed run of this project (launched from the UI, a schedule, a sensor or "
        f"the CLI) and, when {WEBHOOK_VARIABLE} is set, posts a Slack-compatible "
        '{"text": ...} alert naming the run, its days, the failed step and the error.'
    ),
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext) -> None:
    if not is_this_projects_run(context.dagster_run, context.repository_def):
        return
    failed_steps = [
        (event.step_key or "(run)", error_with_causes(event.event_specific_data.error))
        for event in context.get_step_failure_events()
        if event.event_specific_data is not None and event.event_specific_data.error is not None
    ]
    run_error = getattr(context.failure_event.event_specific_data, "error", None)
    if not failed_steps and run_error is not None:  # e.g. the broker refused the steps
        failed_steps = [("(run)", error_with_causes(run_error))]
    elif not failed_steps and context.failure_event.message:
        failed_steps = [("(run)", context.failure_event.message)]
    text = failure_text(
        run_id=context.dagster_run.run_id,
        job_name=context.dagster_run.job_name,
        partition=run_days(context.dagster_run.tags),
        failed_steps=failed_steps,
        secrets=[os.environ.get(TOKEN_VARIABLE)],
    )
    context.log.error(text)
    webhook = webhook_url()
    if webhook:
        post_alert(webhook, text)


def is_this_projects_run(run: dg.DagsterRun, repository: dg.RepositoryDefinition | None) -> bool:
    """Whether a failed run is one of this project's: a job of its definitions, over its
    assets (every code location has an implicit asset job of the same name)."""
    if repository is None:
        return True
    if not repository.has_job(run.job_name):
        return False
    ours = repository.asset_graph.get_all_asset_keys()
    return run.asset_selection is None or run.asset_selection <= ours


def run_days(tags: Mapping[str, str]) -> str | None:
    """The day of a run, or its days as ``first...last`` (a range run: backfill, schedule)."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return f"{tags[RANGE_START_TAG]}...{tags[RANGE_END_TAG]}"
    return None
