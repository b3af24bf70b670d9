"""Reliability scenarios across processes: kill -9 mid-write, concurrent writers, a held lock.

The runs under test live in child processes (``reliability/child.py``) so that they can be
killed, or run at the same time as each other; the parent serves the API and inspects the
DuckDB file afterwards (opening it replays DuckDB's WAL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from etl_assets.demo import DemoSalesApi
from etl_assets_tests.reliability.scenarios_api import bench, preload
from etl_assets_tests.reliability.support import (
    DAY,
    OTHER_DAY,
    SHORT_RETRY_POLICY,
    TABLES,
    TOKEN,
    ScenarioRow,
    api_resource,
    compare_with_truth,
    pipeline_assets,
    run_pipeline,
    snapshot,
)

CHILD = [sys.executable, "-m", "etl_assets_tests.reliability.child"]
SIGNAL_WAIT_SECONDS = 180.0
CHILD_TIMEOUT_SECONDS = 600.0
#: Tables in the order a run writes them (clean_records commits before rejected_records).
WRITE_ORDER = list(TABLES)
CHILD_PAGE_SIZE = 100  # the child's default: lineage columns (_page, _position) depend on it


def _child_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "SALES_API_TOKEN": TOKEN, "PYTHONPATH": path}


def _run_child(url: str, warehouse: Path, day: str, workdir: Path, *extra: str) -> subprocess.Popen:
    instance_dir = workdir / f"child-instance-{day}-{time.monotonic_ns()}"
    instance_dir.mkdir(parents=True)
    command = [*CHILD, "run", "--api-url", url, "--warehouse", str(warehouse), "--day", day]
    return subprocess.Popen(
        [*command, "--instance-dir", str(instance_dir), *extra],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def crash_during_write(
    workdir: Path, table: str, *, orders: int = 300, other_day: bool = True
) -> ScenarioRow:
    """kill -9 a run right before ``table``'s write commits; then re-run it to completion.

    With ``other_day`` a second day is loaded first and must come through untouched.
    """
    row = ScenarioRow(f"kill -9 before COMMIT of {table}", "SIGKILL of the run process")
    signal_file = workdir / "paused.txt"
    with bench(workdir) as b:
        with DemoSalesApi(orders_per_day=orders, seed=21, token=TOKEN) as old:
            for day in (DAY, OTHER_DAY) if other_day else (DAY,):
                run_pipeline(
                    day, api=api_resource(old.url), warehouse=b.warehouse, instance=b.instance
                )
        before = snapshot(b.warehouse)
        with DemoSalesApi(orders_per_day=orders + 37, seed=22, token=TOKEN) as new:
            child = _run_child(
                new.url, b.warehouse, DAY.isoformat(), workdir,
                "--pause-before-commit", table, "--signal", str(signal_file),
            )  # fmt: skip
            started = time.monotonic()
            deadline = started + SIGNAL_WAIT_SECONDS
            while not signal_file.exists() and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            paused = signal_file.exists()
            if child.poll() is None:  # it may have finished without reaching the commit
                os.kill(child.pid, signal.SIGKILL)
            out, err = child.communicate(timeout=30)
            if not paused:
                row.problems.append(f"the child never reached the {table} commit: {err[-500:]}")
                return row
            killed = snapshot(b.warehouse)
            rerun = run_pipeline(
                DAY,
                api=api_resource(new.url, page_size=CHILD_PAGE_SIZE),
                warehouse=b.warehouse,
                instance=b.instance,
            )
            row.seconds = time.monotonic() - started
            final = snapshot(b.warehouse)
            figures = compare_with_truth(b.warehouse, new.day(DAY))
        row.expected, row.loaded = figures.expected, figures.loaded
        row.duplicates, row.lost = figures.duplicates, figures.lost
        if not rerun.success:
            row.problems.append(f"the re-run failed: {rerun.failure_messages()[-1:]}")
        row.problems += figures.problems
        row.problems += _kill_state_problems(table, before, killed, final)
        row.problems += b.leaks([rerun], [out, err])
    return row


def _kill_state_problems(
    paused: str, before: dict[str, list], killed: dict[str, list], final: dict[str, list]
) -> list[str]:
    """Committed tables hold the new rows, the paused one and later ones the old rows."""
    problems = []
    for position, table in enumerate(WRITE_ORDER):
        key = f"{table} {DAY}"
        expected = final if position < WRITE_ORDER.index(paused) else before
        if killed[key] != expected[key]:
            state = "a mix" if killed[key] not in (before[key], final[key]) else "the wrong state"
            problems.append(f"{table} after the kill holds {state}")
        other = f"{table} {OTHER_DAY}"
        if not killed[other] == final[other] == before[other]:
            problems.append(f"{table} {OTHER_DAY} changed")
    if final == before:
        problems.append("the new data is indistinguishable from the old")
    return problems


def concurrent_partitions(workdir: Path, *, orders: int) -> ScenarioRow:
    """Two processes load two days into one DuckDB file at the same time; both are exact."""
    row = ScenarioRow("2 processes, 2 partitions, 1 file", "concurrent writers (lock waits)")
    with bench(workdir) as b, DemoSalesApi(orders_per_day=orders, seed=31, token=TOKEN) as api:
        api.prewarm([DAY, OTHER_DAY])
        started = time.monotonic()
        children = [
            _run_child(api.url, b.warehouse, d.isoformat(), workdir) for d in (DAY, OTHER_DAY)
        ]
        outputs = [child.communicate(timeout=CHILD_TIMEOUT_SECONDS) for child in children]
        row.seconds = time.monotonic() - started
        for child, (out, err) in zip(children, outputs, strict=True):
            if child.returncode != 0:
                row.problems.append(f"a writer failed: {out[-300:]} {err[-500:]}")
        row.expected = row.loaded = row.duplicates = row.lost = 0
        for day in (DAY, OTHER_DAY):
            figures = compare_with_truth(b.warehouse, api.day(day))
            row.expected += figures.expected
            row.loaded += figures.loaded
            row.duplicates += figures.duplicates
            row.lost += figures.lost
            row.problems += [f"{day}: {p}" for p in figures.problems]
        row.problems += b.leaks([], [text for pair in outputs for text in pair])
    return row


def reader_holds_lock(workdir: Path, *, lock_timeout_seconds: float = 2.0) -> ScenarioRow:
    """A process holds the file open: the run waits lock_timeout, then fails naming its PID."""
    row = ScenarioRow(
        "reader holds the DuckDB file", f"lock_timeout_seconds={lock_timeout_seconds:g}"
    )
    with bench(workdir) as b, DemoSalesApi(orders_per_day=200, seed=41, token=TOKEN) as api:
        preload(b)
        before = snapshot(b.warehouse)
        holder = subprocess.Popen(
            [*CHILD, "hold", "--warehouse", str(b.warehouse), "--seconds", "120"],
            env=_child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            ready = holder.stdout.readline() if holder.stdout else ""
            run = run_pipeline(
                DAY,
                api=api_resource(api.url),
                warehouse=b.warehouse,
                instance=b.instance,
                assets=pipeline_assets(SHORT_RETRY_POLICY),
                lock_timeout_seconds=lock_timeout_seconds,
            )
        finally:
            holder.kill()
            holder.wait()
        row.seconds = run.seconds
        attempts = run.step_attempts()
        last = (run.failure_messages() or [""])[-1]
        row.notes.append(f"{attempts} step attempts in {run.seconds:.1f} s; holder said {ready!r}")
        if run.success or not ready.startswith("ready"):
            row.problems.append("the run did not fail on the held lock")
        elif f"PID {holder.pid}" not in last or "holds its lock" not in last:
            row.problems.append(f"the failure does not name the holder: {last[:400]}")
        elif f"within {lock_timeout_seconds:g} s" not in last:
            row.problems.append(f"the failure does not say how long it waited: {last[:400]}")
        if snapshot(b.warehouse) != before:
            row.problems.append("the warehouse changed")
        rerun = run_pipeline(
            DAY, api=api_resource(api.url), warehouse=b.warehouse, instance=b.instance
        )
        if not rerun.success:
            row.problems.append("the re-run after the holder exited failed")
        else:
            figures = compare_with_truth(b.warehouse, api.day(DAY))
            row.expected, row.loaded = figures.expected, figures.loaded
            row.duplicates, row.lost = figures.duplicates, figures.lost
            row.problems += figures.problems
        row.problems += b.leaks([run, rerun])
    return row
