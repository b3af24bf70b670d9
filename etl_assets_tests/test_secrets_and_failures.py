"""The API token stays secret everywhere; failed or empty extracts leave the warehouse right."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from etl_assets.definitions import build_definitions
from etl_assets.demo import DemoSalesApi
from etl_assets_tests.fault_server import FaultServer, Reply, always
from etl_assets_tests.reliability.support import files_containing, warehouse_cells_containing
from etl_assets_tests.support import cli_materialize, day_counts, materialize_day, query

TOKEN = "sk-live-7f3a9c-SECRET-token"
DAY = "2026-11-20"
OTHER_DAY = "2026-11-19"


@pytest.fixture
def token_api() -> Iterator[DemoSalesApi]:
    with DemoSalesApi(orders_per_day=120, seed=11, token=TOKEN) as api:
        yield api


def test_token_is_sent_but_never_stored_or_logged(
    token_api: DemoSalesApi,
    warehouse_path: Path,
    instance_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SALES_API_URL", token_api.url)
    monkeypatch.setenv("SALES_API_TOKEN", TOKEN)
    monkeypatch.setenv("ETL_DUCKDB_PATH", str(warehouse_path))
    with dg.instance_for_test(temp_dir=str(instance_dir)) as instance:
        result = materialize_day(build_definitions(), DAY, instance=instance, raise_on_error=False)
        assert result.success  # the demo API answers 401 without the right bearer token
        run = instance.get_run_by_id(result.run_id)
        assert TOKEN not in repr(run.run_config)
        logs = [str(entry) for entry in instance.all_logs(result.run_id)]
    assert logs and not [line for line in logs if TOKEN in line]
    assert files_containing(instance_dir, TOKEN) == []  # event log, run storage, compute logs
    assert warehouse_cells_containing(warehouse_path, TOKEN) == []
    captured = capfd.readouterr()
    assert TOKEN not in captured.out + captured.err


def test_refused_token_fails_at_once_with_a_clear_message_and_no_secret(
    token_api: DemoSalesApi,
    warehouse_path: Path,
    instance_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = TOKEN + "-revoked"
    monkeypatch.setenv("SALES_API_URL", token_api.url)
    monkeypatch.setenv("SALES_API_TOKEN", wrong)
    monkeypatch.setenv("ETL_DUCKDB_PATH", str(warehouse_path))
    requests_before = token_api.request_count
    with dg.instance_for_test(temp_dir=str(instance_dir)) as instance:
        result = materialize_day(build_definitions(), DAY, instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.message
        assert "refused" in message and token_api.url in message
        assert wrong not in message
    assert token_api.request_count - requests_before == 1  # no retry of a 401
    assert files_containing(instance_dir, wrong) == []


def test_cli_materialize_with_token_lands_rows_and_prints_no_secret(
    token_api: DemoSalesApi, warehouse_path: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SALES_API_URL": token_api.url,
        "SALES_API_TOKEN": TOKEN,
        "ETL_DUCKDB_PATH": str(warehouse_path),
        "DAGSTER_HOME": str(tmp_path),
    }
    completed = cli_materialize(["--partition", DAY], env=env, timeout=180)
    truth = token_api.day(date.fromisoformat(DAY))
    ids = {row[0] for row in query(warehouse_path, "SELECT order_id FROM mart.sales_table")}
    [(served,)] = query(warehouse_path, "SELECT count(*) FROM raw.raw_records")
    assert ids == truth.valid_order_ids
    assert served == len(truth.elements)
    assert TOKEN not in completed.stdout + completed.stderr
    assert files_containing(tmp_path, TOKEN) == []


def test_broken_api_answer_leaves_the_warehouse_unchanged(
    pipeline_env: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert materialize_day(
        build_definitions(), DAY, instance=instance, raise_on_error=False
    ).success
    before = day_counts(pipeline_env)
    html = Reply(status=200, body=b"<html>maintenance</html>", headers={})
    with FaultServer(always(html)) as broken:
        monkeypatch.setenv("SALES_API_URL", broken.url)
        result = materialize_day(build_definitions(), DAY, instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
    assert "body is not JSON (starts with '<html>maintenance" in failure.error.message
    assert broken.url in failure.error.message
    assert day_counts(pipeline_env) == before


def test_an_empty_day_replaces_the_partition_with_typed_empty_tables(
    pipeline_env: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in (OTHER_DAY, DAY):
        assert materialize_day(
            build_definitions(), day, instance=instance, raise_on_error=False
        ).success
    other_before = {
        t: [r for r in rows if r[0] == OTHER_DAY] for t, rows in day_counts(pipeline_env).items()
    }
    with FaultServer(always(Reply(json={"data": [], "next": None}))) as empty:
        monkeypatch.setenv("SALES_API_URL", empty.url)
        assert materialize_day(
            build_definitions(), DAY, instance=instance, raise_on_error=False
        ).success
    after = day_counts(pipeline_env)
    for table, rows in after.items():
        assert [r for r in rows if r[0] == DAY] == [], table  # the day is now empty
        assert [r for r in rows if r[0] == OTHER_DAY] == other_before[table]  # untouched
