"""A real ``dagster dev`` (webserver + daemon + code server) for end-to-end tests.

``running_dagster_dev`` starts the bundled demo API, a temp ``DAGSTER_HOME`` and warehouse, and
the README's own command (``dagster dev`` from the checkout, which loads ``[tool.dagster]`` of
pyproject.toml; or ``dg dev``) on a free 127.0.0.1 port, in its own session. It yields once the
code location is loaded, and on exit stops the whole session and checks that no process of it is
left. ``DagsterDevServer`` then talks to the server over HTTP/GraphQL only.

Used by test_dagster_dev.py, test_ui_browser.py and test_dg_cli.py (one server per module).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

from etl_assets.demo import DemoSalesApi
from etl_assets_tests.dagster_graphql import (
    LAUNCH_RUN_MUTATION,
    REPOSITORIES_QUERY,
    RUN_STATUS_QUERY,
    RUNS_QUERY,
    WORKSPACE_QUERY,
)
from etl_assets_tests.ports import free_port
from etl_assets_tests.process_session import (
    session_members,
    sigint_not_ignored,
    stop_session,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent  # dagster, dg: installed beside this interpreter
HOST = "127.0.0.1"

# The demo API the server's runs extract from.
DEMO_ORDERS_PER_DAY = 200
DEMO_SEED = 3

STARTUP_TIMEOUT_SECONDS = 60.0  # until the code location is LOADED
# SIGTERM → every process of the session gone, then SIGKILL. Usually a few seconds. A code server
# the daemon starts while dagster dev shuts down misses the first SIGTERM and would wait for its
# heartbeat timeout (45 s): ``stop`` sends each late process its own SIGTERM.
SHUTDOWN_TIMEOUT_SECONDS = 30.0
SETTLE_TIMEOUT_SECONDS = 60.0  # launched runs (e.g. the freshness sensor's first) → finished
RUN_TIMEOUT_SECONDS = 60.0  # one launched run, queued → SUCCESS
POLL_SECONDS = 0.5
HTTP_TIMEOUT_SECONDS = 10.0
LOG_TAIL_LINES = 80

# The instance of the test server. The sensor daemon's loop (5 s) and a sensor's own
# minimum_interval_seconds are not configurable here; what is, is set for speed:
# - dequeue queued runs every second instead of every 5 s;
# - no telemetry and no "Join the Dagster community" pop-up over the UI (screenshots).
DAGSTER_YAML = """\
telemetry:
  enabled: false
nux:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
"""

TERMINAL_RUN_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

T = TypeVar("T")


class DagsterDevError(AssertionError):
    """The server did not do what a test waited for; the message ends with its log tail."""


@dataclass
class DagsterDevServer:
    """A running ``dagster dev`` and what it was started with."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    dagster_home: Path
    warehouse_path: Path
    api: DemoSalesApi
    host: str = HOST
    location_name: str = ""
    repository_name: str = ""
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-lines:])

    def fail(self, message: str) -> DagsterDevError:
        return DagsterDevError(
            f"{message}\n--- dagster dev log tail ({self.log_path}) ---\n{self.log_tail()}"
        )

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a query to ``/graphql``; return ``data``, raise on GraphQL errors."""
        response = self._session.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise self.fail(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def wait_for(
        self,
        what: str,
        probe: Callable[[], T | None],
        timeout: float,
    ) -> T:
        """Call ``probe`` until it returns something other than None, bounded by ``timeout``.

        Connection errors count as "not yet"; the server dying or the time running out fails
        with the log tail.
        """
        deadline = time.monotonic() + timeout
        last_error = ""
        while True:
            if self.process.poll() is not None:
                raise self.fail(f"dagster dev exited with {self.process.returncode} while {what}")
            try:
                value = probe()
            except requests.RequestException as error:
                value, last_error = None, f" (last error: {error})"
            if value is not None:
                return value
            if time.monotonic() > deadline:
                raise self.fail(f"timed out after {timeout:.0f} s {what}{last_error}")
            time.sleep(POLL_SECONDS)

    def wait_until_loaded(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        """Wait for the webserver, then for the code location to load; learn its names."""
        deadline = time.monotonic() + timeout

        def server_info() -> bool | None:
            response = self._session.get(f"{self.url}/server_info", timeout=HTTP_TIMEOUT_SECONDS)
            return True if response.ok else None

        def loaded_location() -> str | None:
            data = self.graphql(WORKSPACE_QUERY)["workspaceOrError"]
            if data["__typename"] != "Workspace":
                raise self.fail(f"workspace error: {data}")
            for entry in data["locationEntries"]:
                loaded = entry["locationOrLoadError"]
                if loaded and loaded["__typename"] == "PythonError":
                    raise self.fail(f"code location {entry['name']} failed: {loaded['message']}")
                if entry["loadStatus"] == "LOADED" and loaded:
                    return str(entry["name"])
            return None

        self.wait_for("waiting for /server_info", server_info, timeout)
        remaining = max(1.0, deadline - time.monotonic())
        self.location_name = self.wait_for("loading the code location", loaded_location, remaining)
        repositories = self.graphql(REPOSITORIES_QUERY)["repositoriesOrError"]["nodes"]
        names = [r["name"] for r in repositories if r["location"]["name"] == self.location_name]
        if len(names) != 1:
            raise self.fail(f"expected one repository in {self.location_name}, got {names}")
        self.repository_name = names[0]

    def repository_selector(self) -> dict[str, str]:
        return {
            "repositoryLocationName": self.location_name,
            "repositoryName": self.repository_name,
        }

    def launch_assets(self, asset_keys: Sequence[str], partition: str) -> str:
        """Launch one run of ``__ASSET_JOB`` materializing ``asset_keys`` for ``partition``, as
        the UI's Materialize button does."""
        params = {
            "selector": {
                **self.repository_selector(),
                "jobName": "__ASSET_JOB",
                "assetSelection": [{"path": [key]} for key in asset_keys],
            },
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        data = self.graphql(LAUNCH_RUN_MUTATION, {"executionParams": params})
        launched = data["launchPipelineExecution"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise self.fail(f"launching {list(asset_keys)} for {partition}: {launched}")
        return str(launched["run"]["runId"])

    def run_status(self, run_id: str) -> str:
        data = self.graphql(RUN_STATUS_QUERY, {"runId": run_id})["runOrError"]
        if data["__typename"] != "Run":
            raise self.fail(f"run {run_id}: {data}")
        return str(data["status"])

    def wait_for_run(self, run_id: str, timeout: float = RUN_TIMEOUT_SECONDS) -> str:
        """Wait until the run ends; return its final status."""

        def finished() -> str | None:
            status = self.run_status(run_id)
            return status if status in TERMINAL_RUN_STATUSES else None

        return self.wait_for(f"waiting for run {run_id} to finish", finished, timeout)

    def runs(self, tags: dict[str, str]) -> list[dict[str, Any]]:
        """Runs carrying all ``tags``, newest first (fields: see ``RUNS_QUERY``)."""
        tag_filter = [{"key": key, "value": value} for key, value in tags.items()]
        data = self.graphql(RUNS_QUERY, {"tags": tag_filter})["runsOrError"]
        if data["__typename"] != "Runs":
            raise self.fail(f"runsOrError: {data}")
        return list(data["results"])

    def settle_runs(self, timeout: float = SETTLE_TIMEOUT_SECONDS) -> None:
        """Wait until no run is queued or in progress, as an operator would before stopping.

        The freshness sensor launches a run on its first tick; stopping dagster dev while that
        launch is in flight leaves its code server waiting for the heartbeat timeout.
        """

        def settled() -> bool | None:
            busy = [r for r in self.runs({}) if r["status"] not in TERMINAL_RUN_STATUSES]
            return True if not busy else None

        self.wait_for("waiting for launched runs to finish before stopping", settled, timeout)

    def session_pids(self) -> dict[int, str]:
        """Every live (non-zombie) process of the server's session, with its command line."""
        return session_members(self.process.pid)

    def stop(self) -> dict[int, str]:
        """SIGTERM the session, wait, SIGKILL what is left; return what survived SIGTERM.

        A process of the session that starts after the first SIGTERM (the daemon may still
        start a code server while it shuts down) gets its own SIGTERM, as an operator's
        ``kill`` of what is left would; only what outlives its SIGTERM counts as a survivor.
        """
        survivors = stop_session(self.process, SHUTDOWN_TIMEOUT_SECONDS)
        self._session.close()
        return survivors


def server_environment(dagster_home: Path, warehouse_path: Path, api_url: str) -> dict[str, str]:
    """The environment of a user who followed the README, pointed at temp folders."""
    env = os.environ.copy()
    env.pop("SALES_API_TOKEN", None)
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "ETL_DUCKDB_PATH": str(warehouse_path),
            "SALES_API_URL": api_url,
            "PYTHONUNBUFFERED": "1",
            # dg compares the active venv with the project's; we are running in it.
            "VIRTUAL_ENV": sys.prefix,
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    return env


def dagster_dev_command(port: int) -> list[str]:
    """The README's ``dagster dev`` (``make ui``), bound to 127.0.0.1."""
    return [sys.executable, "-m", "dagster", "dev", "-h", HOST, "-p", str(port)]


def dg_dev_command(port: int) -> list[str]:
    """``dg dev`` of dagster-dg-cli, the command that supersedes ``dagster dev``."""
    return [str(VENV_BIN / "dg"), "dev", "-h", HOST, "-p", str(port)]


@contextlib.contextmanager
def running_dagster_dev(
    workdir: Path,
    command: Callable[[int], list[str]] = dagster_dev_command,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[DagsterDevServer]:
    """Demo API + ``command(port)`` under ``workdir`` (``extra_env`` added to the README's
    environment); yields when loaded, always cleans up.

    Raises ``DagsterDevError`` (with the server's log tail) when it does not come up in time,
    and when a process of the server's session outlives SIGTERM.
    """
    dagster_home = workdir / "dagster_home"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML)
    warehouse_path = workdir / "warehouse" / "warehouse.duckdb"
    log_path = workdir / "dagster_dev.log"
    port = free_port()
    with DemoSalesApi(orders_per_day=DEMO_ORDERS_PER_DAY, seed=DEMO_SEED) as api:
        with log_path.open("wb") as log, sigint_not_ignored():
            process = subprocess.Popen(
                command(port),
                cwd=REPO_ROOT,
                env={
                    **server_environment(dagster_home, warehouse_path, api.url),
                    **(extra_env or {}),
                },
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = DagsterDevServer(
            port=port,
            process=process,
            log_path=log_path,
            dagster_home=dagster_home,
            warehouse_path=warehouse_path,
            api=api,
        )
        survivors: dict[int, str] = {}
        try:
            server.wait_until_loaded()
            yield server
            server.settle_runs()
        finally:
            survivors = server.stop()
        if survivors:
            raise server.fail(f"processes outlived SIGTERM (killed): {survivors}")
