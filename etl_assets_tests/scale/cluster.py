"""The scale-out deployment of docs/scale-out.md, started for real on this machine.

``running_cluster`` creates fresh PostgreSQL databases (instance, DuckLake catalog) and Redis DB
numbers, writes DAGSTER_HOME with ``etl-dagster-home --storage postgres``, starts
``dagster-daemon run -m etl_assets``, ``dagster-webserver -m etl_assets`` and the Celery workers
(``etl-celery-worker --name ...``) exactly as the docs say, each in its own session with its
own log, and stops every one of them on exit. The processes get the documented variables only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import requests

from etl_assets.demo import DemoSalesApi
from etl_assets_tests.dagster_dev_server import HOST, DagsterDevServer
from etl_assets_tests.ports import free_port
from etl_assets_tests.process_session import sigint_not_ignored, stop_session
from etl_assets_tests.scale.services import SHARED_PG, PgServer, fresh_databases, fresh_redis_dbs

VENV_BIN = Path(sys.executable).parent
WORKER_READY_TIMEOUT_SECONDS = 90.0
DAEMON_READY_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0
POLL_SECONDS = 0.5
LOG_TAIL_LINES = 60

SALES_ASSETS = ("raw_records", "clean_records", "rejected_records", "sales_table")
BACKFILL_TAG = "dagster/backfill"

LAUNCH_BACKFILL_MUTATION = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

BACKFILL_STATUS_QUERY = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
    ... on Error { message }
  }
}
"""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the whole session, wait, then SIGKILL what is left."""
        stop_session(self.popen, STOP_TIMEOUT_SECONDS, sig)


@dataclass
class Cluster:
    workdir: Path
    env: dict[str, str]
    api: DemoSalesApi
    processes: dict[str, Process] = field(default_factory=dict)
    server: DagsterDevServer | None = None

    # -- processes ---------------------------------------------------------------------------
    def start(self, name: str, argv: Sequence[str]) -> Process:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log, sigint_not_ignored():
            popen = subprocess.Popen(
                list(argv),
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log_path)
        self.processes[name] = process
        return process

    def start_worker(self, name: str, concurrency: int = 1) -> Process:
        worker = self.start(
            f"worker-{name}",
            [str(VENV_BIN / "etl-celery-worker"), "--name", name, f"--concurrency={concurrency}"],
        )
        self.wait_for_log(worker, " ready.", WORKER_READY_TIMEOUT_SECONDS)
        return worker

    def wait_for_log(self, process: Process, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in process.log():
            if process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited:\n{process.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{process.name}: no {text!r} in {timeout:.0f} s\n{process.tail()}"
                )
            time.sleep(POLL_SECONDS)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in self.processes.values())

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    # -- Dagster -----------------------------------------------------------------------------
    def instance(self):
        """The deployment's instance (PostgreSQL), as the processes see it."""
        import dagster as dg

        os.environ["DAGSTER_POSTGRES_URL"] = self.env["DAGSTER_POSTGRES_URL"]
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None
        return self.server.graphql(query, variables)

    def launch_backfill(self, days: Sequence[date], assets: Sequence[str] = SALES_ASSETS) -> str:
        """A backfill of ``assets`` over ``days``, launched as the UI launches one."""
        params = {
            "partitionNames": [d.isoformat() for d in days],
            "assetSelection": [{"path": [a]} for a in assets],
            "fromFailure": False,
        }
        result = self.graphql(LAUNCH_BACKFILL_MUTATION, {"params": params})
        launched = result["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise AssertionError(f"launchPartitionBackfill: {launched}\n{self.logs()}")
        return str(launched["backfillId"])

    def wait_for_backfill(self, backfill_id: str, runs: int, timeout: float) -> list[Any]:
        """Wait until the backfill's ``runs`` runs have ended; return their records.

        (The backfill's own status turns COMPLETED only at the daemon's next 30 s iteration.)"""
        import dagster as dg

        instance = self.instance()
        deadline = time.monotonic() + timeout
        while True:
            records = instance.get_run_records(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
            if len(records) >= runs and all(r.dagster_run.is_finished for r in records):
                return list(records)
            if time.monotonic() > deadline:
                status = self.graphql(BACKFILL_STATUS_QUERY, {"id": backfill_id})
                raise AssertionError(
                    f"backfill {backfill_id} not done in {timeout:.0f} s ({status},"
                    f" runs {[r.dagster_run.status.value for r in records]})\n{self.logs()}"
                )
            time.sleep(1.0)


def cluster_environment(
    *, home: Path, instance_url: str, catalog_url: str, lake: Path, broker: str, backend: str,
    api_url: str, max_runs: int,
) -> dict[str, str]:  # fmt: skip
    """What docs/scale-out.md tells every process to set (and nothing project-specific more)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETL_", "DAGSTER_", "CELERY_"))}
    env.pop("SALES_API_TOKEN", None)
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "DAGSTER_POSTGRES_URL": instance_url,
            "ETL_EXECUTOR": "celery",
            "CELERY_BROKER_URL": broker,
            "CELERY_RESULT_BACKEND": backend,
            "ETL_WAREHOUSE": "ducklake",
            "ETL_DUCKLAKE_CATALOG": catalog_url,
            "ETL_DUCKLAKE_DATA_PATH": str(lake),
            "ETL_MAX_CONCURRENT_RUNS": str(max_runs),
            "SALES_API_URL": api_url,
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


@contextlib.contextmanager
def running_cluster(
    workdir: Path,
    *,
    workers: Sequence[str] = ("w1", "w2"),
    orders_per_day: int = 60,
    seed: int = 11,
    max_runs: int = 3,
    pg: PgServer = SHARED_PG,
    broker: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """Services' fresh pieces + etl-dagster-home + daemon + webserver + workers; all stopped
    (and the databases dropped) on exit. ``broker`` replaces the fresh Redis DB as the broker
    (e.g. a RabbitMQ vhost, or an address where nothing listens)."""
    with (
        fresh_databases("instance", "catalog", server=pg) as databases,
        fresh_redis_dbs() as redis_dbs,
        DemoSalesApi(orders_per_day=orders_per_day, seed=seed) as api,
    ):
        home = workdir / "dagster_home"
        env = cluster_environment(
            home=home,
            instance_url=pg.url(databases["instance"]),
            catalog_url=pg.url(databases["catalog"]),
            lake=workdir / "lake",
            broker=broker or redis_dbs.broker,
            backend=redis_dbs.backend,
            api_url=api.url,
            max_runs=max_runs,
        )
        env.update(extra_env or {})
        cluster = Cluster(workdir=workdir, env=env, api=api)
        subprocess.run(
            [str(VENV_BIN / "etl-dagster-home"), "--storage", "postgres"],
            env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        try:
            daemon = cluster.start(
                "daemon", [str(VENV_BIN / "dagster-daemon"), "run", "-m", "etl_assets"]
            )
            port = free_port()
            webserver = cluster.start(
                "webserver",
                [str(VENV_BIN / "dagster-webserver"), "-m", "etl_assets", "-h", HOST,
                 "-p", str(port)],
            )  # fmt: skip
            for name in workers:
                cluster.start_worker(name)
            cluster.server = DagsterDevServer(
                port=port,
                process=webserver.popen,
                log_path=webserver.log_path,
                dagster_home=home,
                warehouse_path=workdir / "lake",
                api=api,
            )
            cluster.server.wait_until_loaded(timeout=120)
            cluster.wait_for_log(
                daemon, "Instance is configured with the following daemons", DAEMON_READY_SECONDS
            )
            yield cluster
        finally:
            cluster.stop_all()
            with contextlib.suppress(requests.RequestException, AttributeError):
                cluster.server._session.close()  # type: ignore[union-attr]
