"""Schedule, sensors, alerts and blocking checks, on a real (temporary) Dagster instance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.alerts import failure_text, redact
from etl_assets.definitions import build_definitions
from etl_assets.jobs import daily_sales_job
from etl_assets.transform import quality
from etl_assets_tests.fault_server import FaultServer, Reply, always

DAY1, DAY2 = "2026-11-18", "2026-11-19"
TOKEN = "tok-5ecret-XYZ-123"
LOAD = daily_sales_job.selection  # raw_records → sales_table, without the summary


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "instance"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as test_instance:
        yield test_instance


def materialize(
    defs: dg.Definitions, day: str, instance: dg.DagsterInstance, selection: object
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        list(defs.assets or []),
        resources=defs.resources,
        selection=selection,
        partition_key=day,
        instance=instance,
        raise_on_error=False,
    )


def test_schedule_requests_yesterdays_partition_once(pipeline_env: Path) -> None:
    defs = build_definitions()
    schedule = defs.get_schedule_def("daily_sales_schedule")
    assert schedule.cron_schedule == "15 0 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "daily_sales_job"
    tick = datetime(2026, 11, 21, 0, 15, tzinfo=UTC)
    request = schedule.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
    )
    assert [(r.partition_key, r.run_key) for r in request.run_requests] == [
        ("2026-11-20", "2026-11-20")
    ]


def test_schedule_cron_and_time_zone_are_configurable(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_SCHEDULE_CRON", "30 6 * * *")
    monkeypatch.setenv("ETL_SCHEDULE_TIMEZONE", "Europe/Berlin")
    defs = build_definitions()
    schedule = defs.get_schedule_def("daily_sales_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 6 * * *", "Europe/Berlin")
    # 06:30 in Berlin on the 21st is 05:30Z: the newest complete UTC day is still the 20th.
    tick = datetime(2026, 11, 21, 5, 30, tzinfo=UTC)
    request = schedule.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
    )
    assert [r.partition_key for r in request.run_requests] == ["2026-11-20"]


def test_daily_job_excludes_the_summary_that_the_sensor_owns(pipeline_env: Path) -> None:
    job = build_definitions().resolve_job_def("daily_sales_job")
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert keys == {"raw_records", "clean_records", "rejected_records", "sales_table"}


def test_summary_sensor_requests_exactly_the_changed_partitions(
    pipeline_env: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions()
    sensor = defs.get_sensor_def("sales_summary_sensor")
    for day in (DAY1, DAY2):
        assert materialize(defs, day, instance, LOAD).success

    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert sorted(r.partition_key for r in first.run_requests) == [DAY1, DAY2]
    keys = sorted(r.run_key for r in first.run_requests)
    assert all(key.startswith("daily_sales_summary:") for key in keys)

    # The same tick evaluated again (e.g. a daemon restarted before saving the cursor) asks for
    # the same run keys, which Dagster launches only once.
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert sorted(r.run_key for r in again.run_requests) == keys

    # With the cursor saved, nothing new: no request.
    after = sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=defs, cursor=first.cursor)
    )
    assert after.run_requests == []

    # Running the requested summaries, then reloading one day: only that day is requested.
    for day in (DAY1, DAY2):
        assert materialize(defs, day, instance, "daily_sales_summary").success
    assert materialize(defs, DAY2, instance, LOAD).success
    latest = sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=defs, cursor=first.cursor)
    )
    assert [r.partition_key for r in latest.run_requests] == [DAY2]


def test_summary_sensor_skips_days_whose_run_also_built_the_summary(
    pipeline_env: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions()
    assert materialize(defs, DAY1, instance, "raw_records*").success
    sensor = defs.get_sensor_def("sales_summary_sensor")
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert result.run_requests == []


def test_blocking_check_failure_keeps_bad_data_out_of_sales_table(
    pipeline_env: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = build_definitions()
    ok = materialize(defs, DAY1, instance, LOAD)
    assert ok.success
    passed = {e.check_name: e.passed for e in ok.get_asset_check_evaluations()}
    assert passed["unique_order_id"] and passed["served_reconciles"]
    assert set(passed) >= {"ordered_at_inside_partition", "source_schema_drift"}

    # Inject a failing rule: the check fails, and sales_table is not materialized.
    def always_fails(clean):
        return quality.RuleResult(False, "injected duplicate", {"duplicated_order_ids": [1]})

    monkeypatch.setattr(quality, "unique_order_ids", always_fails)
    blocked = materialize(defs, DAY2, instance, LOAD)
    assert not blocked.success
    materialized = {
        e.event_specific_data.materialization.asset_key.to_user_string()
        for e in blocked.get_asset_materialization_events()
    }
    assert "sales_table" not in materialized
    assert "clean_records" in materialized


def test_run_failure_sensor_posts_a_slack_style_alert_without_the_token(
    pipeline_env: Path,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    refusing_api = FaultServer(always(Reply(status=401, json={"error": f"bad token {TOKEN}"})))
    receiver = FaultServer(always(Reply(status=200, json={"ok": True})))
    with refusing_api, receiver:
        monkeypatch.setenv("SALES_API_URL", refusing_api.url)
        monkeypatch.setenv("SALES_API_TOKEN", TOKEN)
        monkeypatch.setenv("ETL_ALERT_WEBHOOK_URL", receiver.url + "/hook")
        defs = build_definitions()
        result = materialize(defs, DAY1, instance, LOAD)
        assert not result.success
        assert len(refusing_api.requests) == 1  # 401 is not retried, by the client nor Dagster

        run = instance.get_run_by_id(result.run_id)
        failure = instance.get_records_for_run(
            result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records[0]
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert_sensor",
            dagster_event=failure.event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
        ).for_run_failure()
        defs.get_sensor_def("run_failure_alert_sensor")(context)

    (post,) = receiver.requests
    assert post.method == "POST" and post.path == "/hook"
    text = json.loads(post.body)["text"]
    assert result.run_id in text
    assert "raw_records" in text
    assert "refused" in text
    assert DAY1 in text
    assert TOKEN not in text
    assert TOKEN not in json.dumps([str(e) for e in instance.all_logs(result.run_id)])


def test_failure_text_is_short_and_redacted() -> None:
    text = failure_text(
        run_id="r1",
        job_name="daily_sales_job",
        partition="2026-11-20",
        failed_steps=[("raw_records", f"boom with {TOKEN}\ntraceback line")],
        secrets=[TOKEN, None],
    )
    assert text.splitlines()[1] == "• step raw_records: boom with [redacted]"
    assert "traceback line" not in text
    assert redact("abc", ["ab"]) == "abc"  # too short to be a secret worth redacting
