"""The product through the real server: ``dagster dev`` as the README starts it, HTTP only.

One ``dagster dev`` (webserver, daemon, code server) for the module, against the demo API and a
temp warehouse. We read the asset graph and the automation over GraphQL, launch one partition
the way the UI does, and watch the sensor summarize that day on its own.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl_assets_tests.dagster_dev_server import (
    REPO_ROOT,
    TERMINAL_RUN_STATUSES,
    VENV_BIN,
    DagsterDevServer,
    running_dagster_dev,
    server_environment,
)
from etl_assets_tests.dagster_graphql import ASSET_NODES_QUERY, REPOSITORIES_QUERY
from etl_assets_tests.fault_server import FaultServer, Reply, always

pytestmark = pytest.mark.slow

PARTITION = "2026-11-20"
LOADED_ASSETS = ("raw_records", "clean_records", "rejected_records", "sales_table")
SUMMARY = "daily_sales_summary"
SUMMARY_SENSOR = "sales_summary_sensor"
FAILURE_SENSOR = "run_failure_alert_sensor"
SCHEDULE = "daily_sales_schedule"
# The sensor ticks at most every 15 s, the daemon looks every 5 s, then the run itself.
SENSOR_RUN_TIMEOUT_SECONDS = 75.0
# The failure sensor also ticks at most every 15 s.
ALERT_TIMEOUT_SECONDS = 60.0
FAILED_PARTITION = "2026-11-19"

EXPECTED_EDGES = {
    ("raw_records", "clean_records"),
    ("raw_records", "rejected_records"),
    ("clean_records", "sales_table"),
    ("sales_table", "daily_sales_summary"),
    ("rejected_records", "daily_sales_summary"),
}


@pytest.fixture(scope="module")
def alert_receiver() -> Iterator[FaultServer]:
    """Where ``run_failure_alert_sensor`` posts (``ETL_ALERT_WEBHOOK_URL``)."""
    with FaultServer(always(Reply(status=200, json={"ok": True}))) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, alert_receiver: FaultServer
) -> Iterator[DagsterDevServer]:
    webhook = {"ETL_ALERT_WEBHOOK_URL": f"{alert_receiver.url}/hook"}
    with running_dagster_dev(tmp_path_factory.mktemp("dagster_dev"), extra_env=webhook) as running:
        yield running


@pytest.fixture(scope="module")
def asset_nodes(server: DagsterDevServer) -> dict[str, dict[str, Any]]:
    nodes = server.graphql(ASSET_NODES_QUERY)["assetNodes"]
    return {"/".join(node["assetKey"]["path"]): node for node in nodes}


@pytest.fixture(scope="module")
def failing_cli_run(server: DagsterDevServer) -> Iterator[tuple[subprocess.Popen, FaultServer]]:
    """``dagster asset materialize`` of a day against an API that refuses the token, as cron
    would run it. Started with the UI's run, so that the failure sensor's wait overlaps the
    other tests."""
    refusing = FaultServer(always(Reply(status=401, json={"error": "no such token"})))
    command = [str(VENV_BIN / "dagster"), "asset", "materialize", "-m", "etl_assets"]
    with refusing:
        process = subprocess.Popen(
            [*command, "--select", "raw_records", "--partition", FAILED_PARTITION],
            env=server_environment(server.dagster_home, server.warehouse_path, refusing.url),
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield process, refusing
        finally:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def loaded_run(
    server: DagsterDevServer, failing_cli_run: tuple[subprocess.Popen, FaultServer]
) -> dict[str, Any]:
    """One partition of the four loading assets, launched like the UI's Materialize button
    (while a failing CLI run goes on beside it)."""
    started = time.monotonic()
    run_id = server.launch_assets(LOADED_ASSETS, PARTITION)
    status = server.wait_for_run(run_id)
    return {"run_id": run_id, "status": status, "seconds": time.monotonic() - started}


@pytest.fixture(scope="module")
def summary_run(server: DagsterDevServer, loaded_run: dict[str, Any]) -> dict[str, Any]:
    """The run the sensor launches for the partition, once it has ended."""
    assert loaded_run["status"] == "SUCCESS", server.fail(f"load run: {loaded_run}")

    def ended_summary_run() -> dict[str, Any] | None:
        tags = {"dagster/partition": PARTITION, "dagster/sensor_name": SUMMARY_SENSOR}
        for run in server.runs(tags):
            if run["status"] in TERMINAL_RUN_STATUSES:
                return run
        return None

    return server.wait_for(
        f"waiting for {SUMMARY_SENSOR} to get {SUMMARY} {PARTITION} materialized",
        ended_summary_run,
        SENSOR_RUN_TIMEOUT_SECONDS,
    )


def test_the_asset_graph_has_exactly_the_documented_lineage(
    asset_nodes: dict[str, dict[str, Any]],
) -> None:
    edges = {
        ("/".join(dep["path"]), key)
        for key, node in asset_nodes.items()
        for dep in node["dependencyKeys"]
    }
    assert edges == EXPECTED_EDGES
    assert set(asset_nodes) == {*LOADED_ASSETS, SUMMARY}
    assert {node["groupName"] for node in asset_nodes.values()} == {"sales"}
    # clean and rejected come out of one step, so they can never disagree
    assert asset_nodes["clean_records"]["opNames"] == ["clean_and_rejected_records"]
    assert asset_nodes["rejected_records"]["opNames"] == ["clean_and_rejected_records"]


def test_the_schedule_and_sensors_are_served(server: DagsterDevServer) -> None:
    repositories = server.graphql(REPOSITORIES_QUERY)["repositoriesOrError"]["nodes"]
    (repository,) = [r for r in repositories if r["name"] == server.repository_name]
    schedules = {s["name"]: s["scheduleState"]["status"] for s in repository["schedules"]}
    sensors = {
        s["name"]: (s["sensorType"], s["sensorState"]["status"]) for s in repository["sensors"]
    }
    assert schedules.get(SCHEDULE) == "STOPPED"  # opt in: nobody's laptop loads days by itself
    assert sensors.get(SUMMARY_SENSOR) == ("ASSET", "RUNNING")
    assert sensors.get(FAILURE_SENSOR) == ("RUN_STATUS", "RUNNING")


def test_a_launched_partition_materializes(
    server: DagsterDevServer, loaded_run: dict[str, Any]
) -> None:
    assert loaded_run["status"] == "SUCCESS", server.fail(f"load run: {loaded_run}")
    (run,) = [
        r
        for r in server.runs({"dagster/partition": PARTITION})
        if r["runId"] == loaded_run["run_id"]
    ]
    assert {"/".join(key["path"]) for key in run["assetSelection"]} == set(LOADED_ASSETS)
    materialized = {
        ("/".join(m["assetKey"]["path"]), m["partition"]) for m in run["assetMaterializations"]
    }
    assert materialized == {(asset, PARTITION) for asset in LOADED_ASSETS}


def test_the_sensor_summarizes_exactly_the_changed_partition(
    server: DagsterDevServer, summary_run: dict[str, Any]
) -> None:
    assert summary_run["status"] == "SUCCESS", server.fail(f"summary run: {summary_run}")
    materialized = {
        ("/".join(m["assetKey"]["path"]), m["partition"])
        for m in summary_run["assetMaterializations"]
    }
    assert materialized == {(SUMMARY, PARTITION)}
    by_sensor = server.runs({"dagster/sensor_name": SUMMARY_SENSOR})
    assert [run["runId"] for run in by_sensor] == [summary_run["runId"]]  # no other day, once


def test_the_warehouse_holds_the_partition(
    server: DagsterDevServer,
    asset_nodes: dict[str, dict[str, Any]],
    summary_run: dict[str, Any],
) -> None:
    assert summary_run["status"] == "SUCCESS", server.fail(f"summary run: {summary_run}")
    truth = server.api.day(date.fromisoformat(PARTITION))

    def table_and_column(asset: str) -> tuple[str, str]:
        entries = {e["label"]: e.get("text") for e in asset_nodes[asset]["metadataEntries"]}
        return entries["dagster/table_name"], entries["partition_expr"]

    with _read_only(server.warehouse_path) as conn:

        def day_rows(asset: str, columns: str) -> list[tuple]:
            table, column = table_and_column(asset)
            sql = f"SELECT {columns} FROM {table} WHERE CAST({column} AS DATE) = ?"
            return conn.execute(sql, [PARTITION]).fetchall()

        (sales,) = day_rows("sales_table", "count(*), count(DISTINCT order_id)")
        assert sales == (len(truth.valid_order_ids), len(truth.valid_order_ids))
        (summary,) = day_rows(SUMMARY, "count(*), sum(orders), max(rejected_rows)")
        assert summary[0] > 0
        assert summary[1] == len(truth.valid_order_ids)
        assert summary[2] == truth.rejected_count
        other_days = conn.execute(
            "SELECT count(*) FROM mart.daily_sales_summary WHERE order_date <> ?", [PARTITION]
        ).fetchone()
        assert other_days == (0,)


def test_a_failed_cli_run_is_alerted_like_a_scheduled_one(
    server: DagsterDevServer,
    alert_receiver: FaultServer,
    failing_cli_run: tuple[subprocess.Popen, FaultServer],
) -> None:
    """``dagster asset materialize`` from cron belongs to no code location; the failure sensor
    that the daemon runs still posts its alert."""
    process, refusing = failing_cli_run
    assert process.wait(timeout=120) != 0 and len(refusing.requests) == 1

    def alert() -> str | None:
        texts = [json.loads(r.body)["text"] for r in alert_receiver.requests]
        return next((t for t in texts if FAILED_PARTITION in t), None)

    text = server.wait_for("waiting for the CLI run's failure alert", alert, ALERT_TIMEOUT_SECONDS)
    assert "raw_records" in text and "no such token" in text
    assert len(alert_receiver.requests) == 1  # the UI's successful runs post nothing


@contextlib.contextmanager
def _read_only(path: Path, attempts: int = 20) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only DuckDB connection; waits briefly if a finishing run still holds the file."""
    for attempt in range(attempts):
        try:
            conn = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
    try:
        yield conn
    finally:
        conn.close()
