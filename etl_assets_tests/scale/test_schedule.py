"""The daily schedule, unchanged, on the scale-out shape: started through GraphQL, ticked by
``dagster-daemon`` on the PostgreSQL instance, its run's steps on a Celery worker, into DuckLake.

The cron is every minute here (``ETL_SCHEDULE_CRON``) so that a tick comes within the test; the
run key names the days, so the later ticks of the same day launch nothing more.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("dagster_celery", reason="the 'scale' extra is not installed")
pytest.importorskip("duckdb_extension_ducklake", reason="the 'scale' extra is not installed")

import dagster as dg

from etl_assets.schedules import RANGE_END_TAG, RANGE_START_TAG
from etl_assets_tests.scale.cluster import running_cluster
from etl_assets_tests.scale.test_end_to_end import etl_query_csv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

SCHEDULE = "daily_sales_schedule"
LOOKBACK_DAYS = 2
TICK_AND_RUN_SECONDS = 240.0
START_SCHEDULE = """
mutation Start($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""


def test_the_schedule_ticks_through_the_daemon_on_postgres(tmp_path: Path) -> None:
    every_minute = {"ETL_SCHEDULE_CRON": "* * * * *", "ETL_SCHEDULE_LOOKBACK_DAYS": "2"}
    with running_cluster(tmp_path, workers=("w1",), extra_env=every_minute) as cluster:
        selector = {
            "repositoryLocationName": "etl_assets",
            "repositoryName": "__repository__",
            "scheduleName": SCHEDULE,
        }
        started = cluster.graphql(START_SCHEDULE, {"selector": selector})["startSchedule"]
        assert started["scheduleState"]["status"] == "RUNNING", started

        instance = cluster.instance()
        by_schedule = dg.RunsFilter(tags={"dagster/schedule_name": SCHEDULE})
        deadline = time.monotonic() + TICK_AND_RUN_SECONDS
        runs: list[dg.DagsterRun] = []
        while time.monotonic() < deadline:
            runs = instance.get_runs(filters=by_schedule)
            if runs and all(run.is_finished for run in runs):
                break
            time.sleep(2)
        assert runs, f"no run from {SCHEDULE} within {TICK_AND_RUN_SECONDS:.0f} s\n{cluster.logs()}"
        assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS] * len(runs)

        # Each tick of one day asks for the same days under the same run key: one run.
        assert len(runs) == 1
        today = datetime.now(UTC).date()
        first, last = today - timedelta(days=LOOKBACK_DAYS), today - timedelta(days=1)
        run = runs[0]
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == (str(first), str(last))
        loaded = etl_query_csv(
            cluster,
            "select order_date, count(*) as orders from mart.sales_table group by all order by 1",
        ).decode()
        expected = [f"{day},{len(cluster.api.day(day).valid_order_ids)}" for day in (first, last)]
        assert loaded.split("\r\n") == ["order_date,orders", *expected, ""]
