"""Failure alerts: which runs they cover, what they say, where they go, and what they never show."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.alerts import failure_text, redact, webhook_url
from etl_assets.definitions import build_definitions
from etl_assets.jobs import daily_sales_job
from etl_assets.schedules import RANGE_END_TAG, RANGE_START_TAG
from etl_assets.sensors import is_this_projects_run, run_days
from etl_assets.warehouse import WarehouseIOManager
from etl_assets_tests.fault_server import FaultServer, Reply, always
from etl_assets_tests.ports import free_port
from etl_assets_tests.reliability.support import SHORT_RETRY_POLICY, api_resource, pipeline_assets
from etl_assets_tests.support import materialize_day

DAY1 = "2026-11-18"
TOKEN = "tok-5ecret-XYZ-123"
LOAD = daily_sales_job.selection


def evaluate_failure_sensor(
    defs: dg.Definitions, instance: dg.DagsterInstance, run_id: str
) -> None:
    """Evaluate ``run_failure_alert_sensor`` on a failed run, as the daemon would."""
    failure = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records[
        0
    ]
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_event=failure.event_log_entry.dagster_event,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
    ).for_run_failure()
    defs.resolve_sensor_def("run_failure_alert_sensor")(context)


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
        result = materialize_day(
            defs, DAY1, selection=LOAD, instance=instance, raise_on_error=False
        )
        assert not result.success
        assert len(refusing_api.requests) == 1  # 401 is not retried, by the client nor Dagster

        evaluate_failure_sensor(defs, instance, result.run_id)

    (post,) = receiver.requests
    assert post.method == "POST" and post.path == "/hook"
    text = json.loads(post.body)["text"]
    assert result.run_id in text
    assert "raw_records" in text
    assert "refused" in text
    assert DAY1 in text
    assert TOKEN not in text
    assert TOKEN not in json.dumps([str(e) for e in instance.all_logs(result.run_id)])


def test_an_alert_for_a_step_that_used_up_its_retries_names_the_cause(
    pipeline_env: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = FaultServer(always(Reply(status=200, json={"ok": True})))
    dead_api = f"http://127.0.0.1:{free_port()}"
    with receiver:
        monkeypatch.setenv("ETL_ALERT_WEBHOOK_URL", receiver.url + "/hook")
        monkeypatch.setenv("SALES_API_TOKEN", TOKEN)
        resources = {
            "sales_api": api_resource(dead_api, max_attempts=1),
            "io_manager": WarehouseIOManager(database=str(pipeline_env)),
        }
        result = dg.materialize(
            pipeline_assets(SHORT_RETRY_POLICY)[:1],
            resources=resources,
            partition_key=DAY1,
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        evaluate_failure_sensor(build_definitions(), instance, result.run_id)
    (post,) = receiver.requests
    step_line = json.loads(post.body)["text"].splitlines()[1]
    assert step_line.startswith("• step raw_records: Exceeded max_retries of 2; caused by: ")
    assert f"Sales API unavailable: GET {dead_api}/orders" in step_line


def test_failure_alerts_keep_this_projects_runs_and_name_their_days(pipeline_env: Path) -> None:
    repository = build_definitions().get_repository_def()
    loaded = {dg.AssetKey("raw_records"), dg.AssetKey("sales_table")}
    cli_run = dg.DagsterRun(job_name="__ASSET_JOB", asset_selection=loaded)
    assert is_this_projects_run(cli_run, repository)
    assert is_this_projects_run(dg.DagsterRun(job_name="daily_sales_job"), repository)
    elsewhere = {dg.AssetKey("raw_records"), dg.AssetKey("their_table")}
    assert not is_this_projects_run(
        dg.DagsterRun(job_name="__ASSET_JOB", asset_selection=elsewhere), repository
    )
    assert not is_this_projects_run(dg.DagsterRun(job_name="their_job"), repository)
    assert run_days({"dagster/partition": "2026-11-20"}) == "2026-11-20"
    range_tags = {RANGE_START_TAG: "2026-11-18", RANGE_END_TAG: "2026-11-20"}
    assert run_days(range_tags) == "2026-11-18...2026-11-20"
    assert run_days({}) is None


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


def test_the_alert_webhook_is_checked_naming_its_variable_never_its_value() -> None:
    assert webhook_url({}) is None
    hook = "https://hooks.example.com/services/T0/B0/secret"
    assert webhook_url({"ETL_ALERT_WEBHOOK_URL": f" {hook} "}) == hook
    for bad in ("notaurl", "ftp://hooks.example.com/x", "http://[::1", "https:///path"):
        with pytest.raises(ValueError) as info:
            webhook_url({"ETL_ALERT_WEBHOOK_URL": bad})
        assert str(info.value).startswith("ETL_ALERT_WEBHOOK_URL must be an http(s) URL")
        assert bad not in str(info.value)  # a webhook URL is a secret
