"""Schedule, sensors and blocking checks, on a real (temporary) Dagster instance (failure
alerts: ``test_alerts.py``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.definitions import build_definitions, daily_schedule
from etl_assets.jobs import daily_sales_job
from etl_assets.settings import schedule_timezone
from etl_assets.transform import quality
from etl_assets_tests.fault_server import FaultServer, Reply
from etl_assets_tests.support import materialize_day, query

DAY1, DAY2 = "2026-11-18", "2026-11-19"
LOAD = daily_sales_job.selection  # raw_records → sales_table, without the summary


def tick_requests(defs: dg.Definitions, tick: datetime) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def("daily_sales_schedule")
    result = schedule.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
    )
    return list(result.run_requests or [])


def run_python(code: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter with ``environ`` added: settings read at import apply."""
    env = {**os.environ, **environ}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_schedule_with_one_day_of_lookback_requests_yesterdays_partition_once(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_SCHEDULE_LOOKBACK_DAYS", "1")
    defs = build_definitions()
    schedule = defs.resolve_schedule_def("daily_sales_schedule")
    assert schedule.cron_schedule == "15 0 * * *"
    assert schedule.execution_timezone == "UTC"
    assert schedule.job_name == "daily_sales_job"
    requests = tick_requests(defs, datetime(2026, 11, 21, 0, 15, tzinfo=UTC))
    assert [(r.partition_key, r.run_key) for r in requests] == [("2026-11-20", "2026-11-20")]


def test_schedule_reloads_the_last_three_complete_days_in_one_run(pipeline_env: Path) -> None:
    requests = tick_requests(build_definitions(), datetime(2026, 11, 21, 0, 15, tzinfo=UTC))
    assert [(r.run_key, r.partition_key_range) for r in requests] == [
        ("2026-11-18..2026-11-20", dg.PartitionKeyRange("2026-11-18", "2026-11-20"))
    ]
    assert requests[0].partition_key is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ETL_SCHEDULE_LOOKBACK_DAYS", "0", "ETL_SCHEDULE_LOOKBACK_DAYS='0' must be a whole"),
        ("ETL_SCHEDULE_LOOKBACK_DAYS", "three", "ETL_SCHEDULE_LOOKBACK_DAYS='three' must be"),
        ("ETL_SCHEDULE_LOOKBACK_DAYS", "\u00b2", "ETL_SCHEDULE_LOOKBACK_DAYS='\u00b2' must be"),
        ("ETL_PARTITIONS_START", "2026/01/01", "ETL_PARTITIONS_START='2026/01/01' is not a date"),
    ],
)
def test_a_malformed_automation_setting_fails_at_load_naming_it(
    pipeline_env: Path, variable: str, value: str, message: str
) -> None:
    loaded = run_python("import etl_assets; etl_assets.defs", **{variable: value})
    assert loaded.returncode != 0
    assert message in loaded.stderr


@pytest.mark.parametrize("cron", ["foo", "61 0 * * *", "0 0 * * * *"])
def test_a_cron_dagster_refuses_fails_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, cron: str
) -> None:
    monkeypatch.setenv("ETL_SCHEDULE_CRON", cron)
    with pytest.raises(ValueError, match=f"^ETL_SCHEDULE_CRON='{re.escape(cron)}' is not a cron"):
        daily_schedule()
    monkeypatch.setenv("ETL_SCHEDULE_CRON", "@daily")
    monkeypatch.setenv("ETL_SCHEDULE_TIMEZONE", "Europe/Berlin")
    schedule = daily_schedule()
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("@daily", "Europe/Berlin")


def test_the_schedule_time_zone_is_checked_naming_its_variable() -> None:
    assert schedule_timezone({}) == "UTC"
    assert schedule_timezone({"ETL_SCHEDULE_TIMEZONE": " Asia/Tokyo "}) == "Asia/Tokyo"
    for zone in ("Mars/X", "../etc/passwd", "UTC+1"):
        with pytest.raises(ValueError, match=f"ETL_SCHEDULE_TIMEZONE='{re.escape(zone)}' is not"):
            schedule_timezone({"ETL_SCHEDULE_TIMEZONE": zone})


def ticks_in_a_fresh_interpreter(ticks: list[str], **environ: str) -> list[str]:
    """The first partition key, then per tick (ISO time) its skip message and run keys, as
    the project loads with ``environ`` (read at import, hence a fresh interpreter)."""
    code = (
        "import datetime, dagster as dg, etl_assets\n"
        "defs = etl_assets.defs\n"
        "print(defs.resolve_job_def('daily_sales_job').partitions_def.get_first_partition_key())\n"
        "schedule = defs.resolve_schedule_def('daily_sales_schedule')\n"
        f"for tick in {ticks!r}:\n"
        "    time, repo = datetime.datetime.fromisoformat(tick), defs.get_repository_def()\n"
        "    context = dg.build_schedule_context(\n"
        "        scheduled_execution_time=time, repository_def=repo)\n"
        "    result = schedule.evaluate_tick(context)\n"
        "    print(result.skip_message, [r.run_key for r in result.run_requests or []])\n"
    )
    loaded = run_python(code, **environ)
    assert loaded.returncode == 0, loaded.stderr
    return loaded.stdout.splitlines()


def test_partitions_start_sets_the_first_partition_and_clips_the_lookback(
    pipeline_env: Path,
) -> None:
    lines = ticks_in_a_fresh_interpreter(
        ["2026-11-21T00:15:00+00:00"], ETL_PARTITIONS_START="2026-11-20"
    )
    assert lines == ["2026-11-20", "None ['2026-11-20']"]


def test_a_tick_before_the_first_partition_is_complete_skips_naming_the_start(
    pipeline_env: Path,
) -> None:
    ticks = ["2026-12-02T00:15:00+00:00", "2030-01-01T00:15:00+00:00"]
    lines = ticks_in_a_fresh_interpreter(ticks, ETL_PARTITIONS_START="2030-01-01")
    assert lines == [
        "None",  # no complete partition yet
        "No complete day to load before 2026-12-02 00:15:00+00:00: the partitions start on "
        "2030-01-01 []",
        "No complete day to load before 2030-01-01 00:15:00+00:00: the partitions start on "
        "2030-01-01 []",
    ]


def test_a_late_update_lands_with_the_next_tick_and_counts_as_changed(
    pipeline_env: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Order 1 is placed on D and shipped on D+2: the D+2 tick's run reloads D and shows it.
    That run covers D..D+2 (orders 3 and 4 are placed on D+1 and D+2): each day's
    materialization counts its own rows and orders, not the range's."""
    orders = [
        {"order_id": 1, "quantity": 2, "unit_price": 5.0, "status": "placed",
         "timestamp": "2026-11-18T10:00:00Z", "updated_at": "2026-11-18T10:00:00Z"},
        {"order_id": 2, "quantity": 1, "unit_price": 3.0, "status": "paid",
         "timestamp": "2026-11-18T11:00:00Z", "updated_at": "2026-11-18T11:00:00Z"},
    ]  # fmt: skip
    later_days = [
        {"order_id": 3, "quantity": 4, "unit_price": 2.5, "status": "paid", "currency": "USD",
         "timestamp": "2026-11-19T08:00:00Z", "updated_at": "2026-11-19T08:00:00Z"},
        {"order_id": 4, "quantity": 1, "unit_price": 7.0, "status": "paid",
         "timestamp": "2026-11-20T08:00:00Z", "updated_at": "2026-11-20T08:00:00Z"},
    ]  # fmt: skip

    def serve_window(request: object) -> Reply:
        query = request.query  # type: ignore[attr-defined]  # start/end as ...THH:MM:SSZ
        data = [o for o in orders if query["start"] <= str(o["timestamp"]) < query["end"]]
        return Reply(json={"data": data, "next": None})

    with FaultServer(serve_window) as api:
        monkeypatch.setenv("SALES_API_URL", api.url)
        defs = build_definitions()
        job = defs.resolve_job_def("daily_sales_job")

        def run_tick(tick: datetime) -> dict[str, dict[str, object]]:
            [request] = tick_requests(defs, tick)
            result = job.execute_in_process(instance=instance, tags=request.tags)
            assert result.success
            events = [
                e.event_specific_data.materialization
                for e in result.get_asset_materialization_events()
            ]
            figures = {
                (event.asset_key.to_user_string(), event.partition): {
                    key: value.value for key, value in event.metadata.items()
                }
                for event in events
            }
            return {
                **{day: found for (name, day), found in figures.items() if name == "sales_table"},
                **{f"{name} {day}": found for (name, day), found in figures.items()},
            }

        def changes(metadata: dict[str, object]) -> tuple[object, ...]:
            keys = ("dagster/partition_row_count", "orders", "orders_new", "orders_gone")
            return (*(metadata[key] for key in keys), metadata["orders_changed"])

        first = run_tick(datetime(2026, 11, 19, 0, 15, tzinfo=UTC))
        assert changes(first["2026-11-18"]) == (2, 2, 2, 0, 0)
        assert changes(first["2026-11-17"]) == (0, 0, 0, 0, 0)

        orders[0] = {**orders[0], "status": "shipped", "updated_at": "2026-11-20T09:00:00Z"}
        orders.extend(later_days)
        later = run_tick(datetime(2026, 11, 21, 0, 15, tzinfo=UTC))
        assert sorted(later)[:3] == ["2026-11-18", "2026-11-19", "2026-11-20"]
        assert changes(later["2026-11-18"]) == (2, 2, 0, 0, 1)
        assert changes(later["2026-11-19"]) == (1, 1, 1, 0, 0)
        assert changes(later["2026-11-20"]) == (1, 1, 1, 0, 0)
        # Each day's revenue by currency is its own (4 x 2.5 USD on the 19th); a currency a
        # day did not sell shows 0, not the range's total.
        revenue = {
            day: {k: v for k, v in later[day].items() if k.startswith("revenue_")}
            for day in ("2026-11-18", "2026-11-19", "2026-11-20")
        }
        assert revenue == {
            "2026-11-18": {"revenue_unknown": 13.0, "revenue_USD": 0.0},
            "2026-11-19": {"revenue_unknown": 0.0, "revenue_USD": 10.0},
            "2026-11-20": {"revenue_unknown": 7.0, "revenue_USD": 0.0},
        }
        assert "USD" in later["clean_records 2026-11-19"]["preview"]  # the day's own rows
        assert "USD" not in later["clean_records 2026-11-20"]["preview"]
        served = {day: later[f"raw_records {day}"]["elements_served"] for day in sorted(later)[:3]}
        assert served == {"2026-11-18": 2, "2026-11-19": 1, "2026-11-20": 1}
        assert [later[f"clean_records {day}"]["clean"] for day in sorted(later)[:3]] == [2, 1, 1]

    rows = query(
        pipeline_env, "SELECT order_id, status, updated_at FROM mart.sales_table ORDER BY 1"
    )
    assert [(order_id, status) for order_id, status, _ in rows] == [
        (1, "shipped"),
        (2, "paid"),
        (3, "paid"),
        (4, "paid"),
    ]
    assert rows[0][2] == datetime(2026, 11, 20, 9, tzinfo=UTC)


def test_schedule_cron_and_time_zone_are_configurable(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETL_SCHEDULE_CRON", "30 6 * * *")
    monkeypatch.setenv("ETL_SCHEDULE_TIMEZONE", "Europe/Berlin")
    defs = build_definitions()
    schedule = defs.resolve_schedule_def("daily_sales_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 6 * * *", "Europe/Berlin")
    # 06:30 in Berlin on the 21st is 05:30Z: the newest complete UTC day is still the 20th.
    tick = datetime(2026, 11, 21, 5, 30, tzinfo=UTC)
    request = schedule.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=tick, repository_def=defs.get_repository_def()
        )
    )
    assert [r.partition_key_range.end for r in request.run_requests] == ["2026-11-20"]


def test_daily_job_excludes_the_summary_that_the_sensor_owns(pipeline_env: Path) -> None:
    job = build_definitions().resolve_job_def("daily_sales_job")
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert keys == {"raw_records", "clean_records", "rejected_records", "sales_table"}


def test_summary_sensor_requests_exactly_the_changed_partitions(
    pipeline_env: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions()
    sensor = defs.resolve_sensor_def("sales_summary_sensor")
    for day in (DAY1, DAY2):
        assert materialize_day(
            defs, day, selection=LOAD, instance=instance, raise_on_error=False
        ).success

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
        assert materialize_day(
            defs, day, selection="daily_sales_summary", instance=instance, raise_on_error=False
        ).success
    assert materialize_day(
        defs, DAY2, selection=LOAD, instance=instance, raise_on_error=False
    ).success
    latest = sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=defs, cursor=first.cursor)
    )
    assert [r.partition_key for r in latest.run_requests] == [DAY2]


def test_summary_sensor_skips_days_whose_run_also_built_the_summary(
    pipeline_env: Path, instance: dg.DagsterInstance
) -> None:
    defs = build_definitions()
    assert materialize_day(
        defs, DAY1, selection="raw_records*", instance=instance, raise_on_error=False
    ).success
    sensor = defs.resolve_sensor_def("sales_summary_sensor")
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    assert result.run_requests == []


def test_blocking_check_failure_keeps_bad_data_out_of_sales_table(
    pipeline_env: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    defs = build_definitions()
    ok = materialize_day(defs, DAY1, selection=LOAD, instance=instance, raise_on_error=False)
    assert ok.success
    passed = {e.check_name: e.passed for e in ok.get_asset_check_evaluations()}
    assert passed["unique_order_id"] and passed["served_reconciles"]
    assert set(passed) >= {"ordered_at_inside_partition", "source_schema_drift"}

    # Inject a failing rule: the check fails, and sales_table is not materialized.
    def always_fails(clean):
        return quality.RuleResult(False, "injected duplicate", {"duplicated_order_ids": [1]})

    monkeypatch.setattr(quality, "unique_order_ids", always_fails)
    blocked = materialize_day(defs, DAY2, selection=LOAD, instance=instance, raise_on_error=False)
    assert not blocked.success
    materialized = {
        e.event_specific_data.materialization.asset_key.to_user_string()
        for e in blocked.get_asset_materialization_events()
    }
    assert "sales_table" not in materialized
    assert "clean_records" in materialized
