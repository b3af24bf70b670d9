"""Shared fixtures: a live demo Sales API, temp DuckDB files, a temp DAGSTER_HOME and instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from etl_assets.demo import DemoSalesApi
from etl_assets_tests.fault_server import FaultServer, Script

DEMO_ORDERS_PER_DAY = 300
DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo_api() -> Iterator[DemoSalesApi]:
    """The bundled demo API on a free 127.0.0.1 port, shared by the session (it is read-only)."""
    with DemoSalesApi(orders_per_day=DEMO_ORDERS_PER_DAY, seed=DEMO_SEED) as api:
        yield api


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse" / "test.duckdb"


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture
def instance_dir(tmp_path: Path) -> Path:
    """Where ``instance`` keeps its storage (for tests that search what it wrote)."""
    home = tmp_path / "instance"
    home.mkdir()
    return home


@pytest.fixture
def instance(instance_dir: Path) -> Iterator[dg.DagsterInstance]:
    """A temporary Dagster instance (SQLite storage in ``instance_dir``)."""
    with dg.instance_for_test(temp_dir=str(instance_dir)) as test_instance:
        yield test_instance


@pytest.fixture
def pipeline_env(
    demo_api: DemoSalesApi, warehouse_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Environment of a user who points the pipeline at the demo API and a temp warehouse."""
    monkeypatch.setenv("SALES_API_URL", demo_api.url)
    monkeypatch.setenv("ETL_DUCKDB_PATH", str(warehouse_path))
    monkeypatch.delenv("SALES_API_TOKEN", raising=False)
    return warehouse_path


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(script)`` starts a FaultServer that is stopped after the test."""
    servers: list[FaultServer] = []

    def start(script: Script) -> FaultServer:
        servers.append(FaultServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A warehouse file that does not exist yet, in a folder that does not either."""
    return tmp_path / "nested" / "warehouse.duckdb"
