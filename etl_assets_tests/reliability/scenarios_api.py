"""Reliability scenarios on the API side: faults, permanent failure, pagination traps, drift.

Each function runs one scenario end to end (servers, Dagster instance, DuckDB file under
``workdir``) and returns a :class:`ScenarioRow`; an empty ``problems`` list means it held. The
tests call them with small sizes, ``python -m etl_assets_tests.reliability.report`` with large ones.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from etl_assets.assets import EXTRACT_RETRY_POLICY
from etl_assets.demo import DemoSalesApi, FaultConfig
from etl_assets.demo.faults import FAULT_KINDS
from etl_assets_tests.fault_server import Action, FaultServer, RecordedRequest, Reply
from etl_assets_tests.ports import free_port
from etl_assets_tests.reliability.bounds import failing_api_bound
from etl_assets_tests.reliability.support import (
    DAY,
    SHORT_RETRY_POLICY,
    TOKEN,
    RunOutcome,
    ScenarioRow,
    api_resource,
    collected_logs,
    compare_with_truth,
    pipeline_assets,
    run_pipeline,
    secret_leaks,
    snapshot,
    token_in_env,
)

PRELOAD_ORDERS = 200
PRELOAD_SEED = 5


@dataclass
class Bench:
    """What a scenario runs in: a Dagster instance, a warehouse path, a token in the env."""

    workdir: Path
    instance: dg.DagsterInstance
    logs: list[str]

    @property
    def warehouse(self) -> Path:
        return self.workdir / "warehouse.duckdb"

    def leaks(self, runs: list[RunOutcome], texts: list[str] | None = None) -> list[str]:
        found = secret_leaks(
            TOKEN,
            instance=self.instance,
            instance_dir=self.workdir / "instance",
            warehouse=self.warehouse,
            runs=runs,
            texts=[*self.logs, *(texts or [])],
        )
        return [f"token leaked: {', '.join(found)}"] if found else []


@contextmanager
def bench(workdir: Path) -> Iterator[Bench]:
    (workdir / "instance").mkdir(parents=True, exist_ok=True)
    with (
        token_in_env(),
        dg.instance_for_test(temp_dir=str(workdir / "instance")) as instance,
        collected_logs() as logs,
    ):
        yield Bench(workdir, instance, logs)


_preloaded: list[Path] = []  # the first preload's warehouse, copied by later ones


def preload(b: Bench) -> None:
    """Load DAY from a small healthy demo API: the "previous state" a failure must keep.

    The first call in a process runs the pipeline; later calls copy that file (same rows).
    """
    if _preloaded and _preloaded[0].exists():
        b.warehouse.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_preloaded[0], b.warehouse)
        return
    with DemoSalesApi(orders_per_day=PRELOAD_ORDERS, seed=PRELOAD_SEED, token=TOKEN) as api:
        run = run_pipeline(
            DAY, api=api_resource(api.url), warehouse=b.warehouse, instance=b.instance
        )
    if not run.success:
        raise RuntimeError(f"preload failed: {run.failure_messages()}")
    if b.warehouse.with_name(b.warehouse.name + ".wal").exists():
        return  # not checkpointed: do not cache a file without its WAL
    template = Path(tempfile.mkdtemp(prefix="etl-preload-")) / "preloaded.duckdb"
    shutil.copyfile(b.warehouse, template)
    atexit.register(shutil.rmtree, template.parent, True)
    _preloaded[:] = [template]


def day_elements(orders: int = PRELOAD_ORDERS, seed: int = PRELOAD_SEED + 1) -> list[Any]:
    """A day's elements as the demo API serves them (another seed than the preload)."""
    return DemoSalesApi(orders_per_day=orders, seed=seed).day(DAY).elements


# --------------------------------------------------------------------------------------------


def flaky_soak(
    workdir: Path,
    *,
    orders: int,
    fault_rate: float = 0.1,
    retry_after_seconds: float = 1.0,
    seed: int = 3,
) -> ScenarioRow:
    """One day over >= orders/100 pages while ~fault_rate of the requests fail in every way."""
    faults = FaultConfig(
        rate=fault_rate,
        kinds=FAULT_KINDS,
        retry_after_seconds=retry_after_seconds,
        slow_seconds=1.5,
        seed=seed,
    )
    row = ScenarioRow("flaky API soak", "")
    with (
        bench(workdir) as b,
        DemoSalesApi(orders_per_day=orders, seed=seed, token=TOKEN, faults=faults) as api,
    ):
        api.prewarm([DAY])
        truth = api.day(DAY)
        resource = api_resource(
            api.url,
            page_size=100,
            read_timeout_seconds=1.0,
            max_attempts=8,
            retry_budget_seconds=60,
        )
        run = run_pipeline(DAY, api=resource, warehouse=b.warehouse, instance=b.instance)
        row.seconds = run.seconds
        pages = int(run.metadata("raw_records").get("pages_fetched", 0))
        injected = api.request_count - pages  # every fault costs exactly one extra request
        row.faults = (
            f"{injected} of {api.request_count} requests ({injected / api.request_count:.0%}) "
            f"over {pages} pages: 429/500/502/503/504/drop/slow"
        )
        if not run.success:
            row.problems.append(f"run failed: {run.failure_messages()[-1:]}")
        else:
            figures = compare_with_truth(b.warehouse, truth)
            row.expected, row.loaded = figures.expected, figures.loaded
            row.duplicates, row.lost = figures.duplicates, figures.lost
            row.problems += figures.problems
            counts = run.metadata("clean_records")
            if counts.get("duplicates", 0) + counts.get("superseded", 0) != truth.redundant_count:
                row.problems.append(f"duplicates + superseded != {truth.redundant_count}")
        row.problems += b.leaks([run])
    return row


def permanent_failure(workdir: Path, *, kind: str, defaults: bool = False) -> ScenarioRow:
    """Always 503 (``kind="503"``) or nothing listening (``"refused"``): counted retries, each
    after the wait it was told, then a clear failure.

    ``defaults=False`` shrinks the client's bounds (2 attempts, 3 s budget, 1 s timeouts) and the
    Dagster retry delay (0.2 s); ``defaults=True`` uses the production settings throughout.
    """
    label = "always 503 + Retry-After: 1" if kind == "503" else "connection refused"
    row = ScenarioRow(f"permanent failure ({'defaults' if defaults else 'small bounds'})", label)
    policy = EXTRACT_RETRY_POLICY if defaults else SHORT_RETRY_POLICY
    down = Reply(503, json={"error": "down for maintenance"}, headers={"Retry-After": "1"})
    with bench(workdir) as b, FaultServer(lambda _request: down) as server:
        preload(b)
        before = snapshot(b.warehouse)
        url = server.url if kind == "503" else f"http://127.0.0.1:{free_port()}"
        config: dict[str, Any] = {} if defaults else {
            "max_attempts": 2,
            "retry_budget_seconds": 3.0,
            "connect_timeout_seconds": 1.0,
            "read_timeout_seconds": 1.0,
        }  # fmt: skip
        resource = api_resource(url, **config)
        bound = failing_api_bound(resource, policy)
        run = run_pipeline(
            DAY,
            api=resource,
            warehouse=b.warehouse,
            instance=b.instance,
            assets=pipeline_assets(policy),
        )
        row.seconds = run.seconds
        messages = run.failure_messages()
        last = messages[-1] if messages else ""
        attempts = run.step_attempts()
        row.notes.append(
            f"{attempts} Dagster attempts, {len(server.requests)} requests, "
            f"{run.seconds:.1f} s; worst case by the settings {bound:.0f} s"
        )
        cause = "503 Service Unavailable" if kind == "503" else "could not connect"
        if run.success:
            row.problems.append("the run succeeded against a dead API")
        elif url not in last or cause not in last:
            row.problems.append(f"failure does not name the URL and {cause!r}: {last[:300]}")
        if attempts != policy.max_retries + 1:
            row.problems.append(f"{attempts} attempts, expected {policy.max_retries + 1}")
        if kind == "503" and len(server.requests) != attempts * resource.max_attempts:
            row.problems.append(f"{len(server.requests)} requests, expected {attempts} x attempts")
        if kind == "503":  # every retry of a page request waited the Retry-After it was given
            arrivals = [r.received_at for r in server.requests]
            waits = [
                later - earlier
                for k, (earlier, later) in enumerate(itertools.pairwise(arrivals))
                if (k + 1) % resource.max_attempts  # not across Dagster's step attempts
            ]
            if len(waits) != attempts * (resource.max_attempts - 1) or min(waits) < 0.95:
                row.problems.append(f"retries did not wait Retry-After: 1 ({waits})")
        if snapshot(b.warehouse) != before:
            row.problems.append("the warehouse changed")
        row.problems += b.leaks([run])
    return row


# --------------------------------------------------------------------------------------------

TRAPS: dict[str, tuple[Reply, str]] = {
    "next loops back": (Reply(json={"data": [], "next": "/orders?cursor=2"}), "pagination loop"),
    "page is not JSON": (
        Reply(body=b'{"data": [{"order_id": 1}', headers={"Content-Type": "application/json"}),
        "body is not JSON",
    ),
    "200 with an HTML body": (
        Reply(body=b"<!DOCTYPE html><html><body>Please sign in</body></html>"),
        "body is not JSON (starts with '<!DOCTYPE html>",
    ),
    "data is not a list": (
        Reply(json={"data": {"orders": []}, "next": None}),
        '"data" must be a list, got dict',
    ),
}


def paged_script(pages: list[list[Any]], last: Reply) -> Callable[[RecordedRequest], Action]:
    """Pages 1..n linked by ``?cursor=``, then ``last`` as page n + 1."""

    def answer(request: RecordedRequest) -> Action:
        number = int(request.query.get("cursor", "1"))
        if number <= len(pages):
            records = pages[number - 1]
            return Reply(json={"data": records, "next": f"/orders?cursor={number + 1}"})
        return last if number == len(pages) + 1 else Reply(404, json={"error": "no such page"})

    return answer


def pagination_trap(workdir: Path, trap: str) -> ScenarioRow:
    """Pages 1 and 2 are fine, page 3 is the trap: a clear error, the day's old rows intact."""
    reply, expected_text = TRAPS[trap]
    elements = day_elements()
    pages = [elements[:100], elements[100:200]]
    row = ScenarioRow(f"pagination trap: {trap}", "page 3 of a multi-page day")
    with bench(workdir) as b, FaultServer(paged_script(pages, reply)) as server:
        preload(b)
        before = snapshot(b.warehouse)
        resource = api_resource(server.url, page_size=100)
        run = run_pipeline(DAY, api=resource, warehouse=b.warehouse, instance=b.instance)
        row.seconds = run.seconds
        last = (run.failure_messages() or [""])[-1]
        if run.success:
            row.problems.append("the run succeeded")
        elif expected_text not in last or "page 3" not in last or server.url not in last:
            row.problems.append(f"unclear failure: {last[:300]}")
        if len(server.requests) != 3 or run.step_attempts() != 1:
            row.problems.append(f"{len(server.requests)} requests, {run.step_attempts()} attempts")
        if snapshot(b.warehouse) != before:
            row.problems.append("the warehouse changed")
        row.problems += b.leaks([run])
    return row
