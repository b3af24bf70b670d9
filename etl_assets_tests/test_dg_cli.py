"""The ``dg`` CLI (dagster-dg-cli) works from the checkout, as ``[tool.dg]`` in pyproject says.

``dg check defs``, ``dg list defs``, ``dg launch`` of one partition against the demo API, and
``dg dev`` serving the same definitions as ``dagster dev``.
"""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from etl_assets.demo import DemoSalesApi
from etl_assets_tests.dagster_dev_server import (
    DAGSTER_YAML,
    REPO_ROOT,
    VENV_BIN,
    dg_dev_command,
    running_dagster_dev,
    server_environment,
)
from etl_assets_tests.dagster_graphql import ASSET_NODES_QUERY
from etl_assets_tests.support import DAY_COLUMNS, day_counts, query

pytestmark = pytest.mark.slow

DG = str(VENV_BIN / "dg")
DG_TIMEOUT_SECONDS = 180
PARTITION = "2026-11-20"
ASSET_DEPS = {
    "raw_records": [],
    "clean_records": ["raw_records"],
    "rejected_records": ["raw_records"],
    "sales_table": ["clean_records"],
    "daily_sales_summary": ["rejected_records", "sales_table"],
}


@pytest.fixture
def dg_env(tmp_path: Path, demo_api: DemoSalesApi) -> dict[str, str]:
    """A README user's environment: the demo API, a temp warehouse and DAGSTER_HOME."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    return server_environment(home, tmp_path / "warehouse" / "warehouse.duckdb", demo_api.url)


def dg(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [DG, *args],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DG_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, (
        f"dg {' '.join(args)} exited {completed.returncode}\n"
        f"stdout:\n{completed.stdout[-3000:]}\nstderr:\n{completed.stderr[-3000:]}"
    )
    return completed


def test_dg_check_defs(dg_env: dict[str, str]) -> None:
    completed = dg(dg_env, "check", "defs")
    assert "All definitions loaded successfully" in completed.stdout + completed.stderr


def test_dg_list_defs(dg_env: dict[str, str]) -> None:
    listed: dict[str, Any] = json.loads(dg(dg_env, "list", "defs", "--json").stdout)
    deps = {a["asset_key"]: sorted(a["dependency_keys"]) for a in listed["assets"]}
    assert deps == ASSET_DEPS
    assert {a["group_name"] for a in listed["assets"]} == {"sales"}
    assert {s["name"] for s in listed["schedules"]} == {"daily_sales_schedule"}
    assert {"sales_summary_sensor", "run_failure_alert_sensor"} <= {
        s["name"] for s in listed["sensors"]
    }
    assert {"daily_sales_job", "daily_sales_summary_job"} <= {j["name"] for j in listed["jobs"]}
    assert {r["name"] for r in listed["resources"]} >= {"sales_api", "io_manager"}


def test_dg_launch_one_partition(dg_env: dict[str, str], demo_api: DemoSalesApi) -> None:
    dg(dg_env, "launch", "--assets", "key:raw_records+", "--partition", PARTITION)
    truth = demo_api.day(date.fromisoformat(PARTITION))
    warehouse = dg_env["ETL_DUCKDB_PATH"]
    counts = day_counts(warehouse, DAY_COLUMNS)  # every table holds that one day only
    [(summary_day, summary_rows)] = counts.pop("mart.daily_sales_summary")
    assert (summary_day, summary_rows > 0) == (PARTITION, True)
    assert counts == {
        "raw.raw_records": [(PARTITION, len(truth.elements))],
        "staging.clean_records": [(PARTITION, len(truth.valid_order_ids))],
        "staging.rejected_records": [(PARTITION, truth.rejected_count)],
        "mart.sales_table": [(PARTITION, len(truth.valid_order_ids))],
    }
    [(orders,)] = query(warehouse, "SELECT sum(orders) FROM mart.daily_sales_summary")
    assert orders == len(truth.valid_order_ids)


def test_dg_dev_serves_the_definitions(tmp_path: Path) -> None:
    with running_dagster_dev(tmp_path, dg_dev_command) as server:
        nodes = server.graphql(ASSET_NODES_QUERY)["assetNodes"]
        deps = {
            "/".join(n["assetKey"]["path"]): sorted(
                "/".join(d["path"]) for d in n["dependencyKeys"]
            )
            for n in nodes
        }
    assert deps == ASSET_DEPS
