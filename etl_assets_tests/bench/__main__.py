"""``python -m etl_assets_tests.bench [--orders N] [--rounds R]``: see the package docstring."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from etl_assets_tests.bench.floor import FLOOR_WINDOWS, PageReader, day_window, first_url
from etl_assets_tests.bench.results import ROWS, Run, machine, print_api, report

DEFAULT_ORDERS = 100_000
DEFAULT_DAY = "2026-11-20"
DEFAULT_ROUNDS = 3
DEFAULT_TUTORIAL_ROUNDS = 1  # ~80 s a round at 1,000,000 orders
ALL_VARIANTS = ("api", *ROWS)
CLI_SELECTION = "raw_records*"
SERVER_MAX_PAGE_SIZE = 1000
AMOUNT_REL_TOLERANCE = 1e-9  # sums of the same amounts in a different order
PROJECT_INSTANCE_YAML = ("instance", "dagster.yaml")  # in the etl_assets package


class BenchmarkMismatch(AssertionError):
    """Two variants ended with different orders: no figure is worth printing."""


# ------------------------------------------------------------------------------------------------
# The demo API


def start_server(orders: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "etl_assets.demo", "--port", "0"]
    command += ["--orders-per-day", str(orders), "--max-page-size", str(SERVER_MAX_PAGE_SIZE)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    found = re.search(r"http://[\d.]+:\d+", line)
    if not found:
        server.kill()
        raise RuntimeError(f"the demo API did not start: {line!r}")
    return server, found.group(0)


PREWARM_TIMEOUT_SECONDS = 1800


def prewarm(url: str, day: date) -> float:
    """Generate and serialise the day (and the floor's sub-windows) before anything is timed."""
    began = time.perf_counter()
    start, end = day_window(day)
    step = (end - start) / FLOOR_WINDOWS
    windows = [(start, end)] + [(start + step * k, start + step * (k + 1)) for k in range(4)]
    # Generating a million orders takes the demo API minutes on a slow machine: not timed.
    with PageReader(url, timeout=PREWARM_TIMEOUT_SECONDS) as reader:
        for low, high in windows:
            reader.get(first_url(url, low, high))
    return time.perf_counter() - began


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------
# Running and measuring one variant


def measure(
    command: list[str], env: dict[str, str], log: Path
) -> tuple[float, os.struct_rusage, float]:
    """Run ``command`` to its end; its wall time, its resource usage from ``wait4`` (what
    ``/usr/bin/time`` reports: ``ru_maxrss`` is the peak of the largest process of its tree, the
    CPU times add up the child and every descendant it waited for), and when it started (epoch
    seconds)."""
    with log.open("w") as sink:  # Dagster logs every event: keep them out of the report
        started = time.time()
        began = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:6])} ... failed (exit code {child.returncode}):\n"
            + log.read_text()[-3000:]
        )
    return wall, usage, started


def dagster_environment(url: str, workdir: Path) -> dict[str, str]:
    """DAGSTER_HOME (the project's dagster.yaml), SALES_API_URL and ETL_DUCKDB_PATH."""
    home = workdir / "dagster_home"
    home.mkdir()
    spec = importlib.util.find_spec("etl_assets")  # finds the package without importing it
    assert spec is not None and spec.submodule_search_locations
    template = Path(next(iter(spec.submodule_search_locations)), *PROJECT_INSTANCE_YAML)
    shutil.copy(template, home / "dagster.yaml")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    environ.pop("SALES_API_TOKEN", None)
    return {
        **environ,
        "DAGSTER_HOME": str(home),
        "SALES_API_URL": url,
        "ETL_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
    }


def dagster_executable() -> str:
    beside = Path(sys.executable).with_name("dagster")
    found = str(beside) if beside.exists() else shutil.which("dagster")
    if not found:
        raise RuntimeError("the dagster command is not installed (make install)")
    return found


def run_once(name: str, url: str, day: date, workdir: Path) -> tuple[Run, dict[str, Any]]:
    """Measure one variant in its own process; return the run and where its table is."""
    out = workdir / "result.json"
    env = dict(os.environ)
    if name == "cli":
        env = dagster_environment(url, workdir)
        command = [dagster_executable(), "asset", "materialize", "-m", "etl_assets"]
        command += ["--select", CLI_SELECTION, "--partition", day.isoformat()]
    else:
        if name == "dagster":
            env = {**dagster_environment(url, workdir), "ETL_EXECUTOR": "in_process"}
        command = [sys.executable, "-m", "etl_assets_tests.bench.variants", name, url]
        command += [day.isoformat(), str(workdir), str(out)]
    wall, usage, started = measure(command, env, workdir / f"{name}.log")
    if name == "cli":
        result: dict[str, Any] = {"database": env["ETL_DUCKDB_PATH"], "table": "mart.sales_table"}
    else:
        result = json.loads(out.read_text())
    stages = dict(result.get("stages", {}))
    if name in ("dagster", "cli"):
        stages.update(dagster_stages(env, workdir, result.pop("rss_samples", None)))
        stages["process start → run start"] = stages.pop("@run start (epoch)") - started
        stages["run success → process exit"] = started + wall - stages.pop("@run success (epoch)")
    steps = stages.get("steps, first start to last success")
    seconds = float(steps if steps is not None else result.get("seconds", wall))
    max_rss = usage.ru_maxrss / 1024
    return Run(wall, max_rss, usage.ru_utime, usage.ru_stime, seconds, stages), result


def dagster_stages(env: dict[str, str], workdir: Path, samples: Any) -> dict[str, float]:
    """The stage times of the run just made, read from its instance by a process not measured."""
    out, samples_file = workdir / "stages.json", workdir / "samples.json"
    command = [sys.executable, "-m", "etl_assets_tests.bench.variants", "stages", str(out)]
    if samples:
        samples_file.write_text(json.dumps(samples))
        command.append(str(samples_file))
    subprocess.run(command, env=env, check=True, capture_output=True)
    return json.loads(out.read_text())


def final_orders(result: dict[str, Any]) -> tuple[int, float]:
    """Distinct order_ids and the sum of amount of the table a variant loaded."""
    sql = f"SELECT count(DISTINCT order_id), sum(amount) FROM {result['table']}"
    database = result["database"]
    if database.endswith(".sqlite"):
        with sqlite3.connect(database) as connection:
            distinct, amount = connection.execute(sql).fetchone()
    else:
        with duckdb.connect(database, read_only=True) as connection:
            row = connection.execute(sql).fetchone()
            assert row is not None
            distinct, amount = row
    return int(distinct), float(amount or 0.0)


def check_same_orders(
    name: str, found: tuple[int, float], reference: tuple[str, int, float]
) -> None:
    first, orders, amount = reference
    same = found[0] == orders and math.isclose(found[1], amount, rel_tol=AMOUNT_REL_TOLERANCE)
    if not same:
        raise BenchmarkMismatch(
            f"{name} ended with {found[0]} orders / amount {found[1]!r}, "
            f"{first} with {orders} / {amount!r}: no figure is printed"
        )


# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_assets_tests.bench", description=__doc__)
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS, help="orders for the day")
    parser.add_argument("--day", default=DEFAULT_DAY, help="UTC day (default: %(default)s)")
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds per variant (median)"
    )
    parser.add_argument(
        "--tutorial-rounds",
        type=int,
        default=DEFAULT_TUTORIAL_ROUNDS,
        help="rounds of the slow tutorial baseline (default: %(default)s)",
    )
    parser.add_argument("--only", help="comma-separated variants to run, e.g. floor,dagster")
    args = parser.parse_args(argv)
    day = date.fromisoformat(args.day)
    variants = args.only.split(",") if args.only else list(ALL_VARIANTS)
    unknown = sorted(set(variants) - set(ALL_VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(ALL_VARIANTS)}")
    if "dlt" in variants and importlib.util.find_spec("dlt") is None:
        variants.remove("dlt")
        print("dlt row skipped: dlt is not installed (pip install -e '.[bench]', or make bench)")
    executor = os.environ.get("ETL_EXECUTOR") or "in_process (the default)"
    print(f"benchmark: {args.orders:,} orders on {day}, {SERVER_MAX_PAGE_SIZE}-record pages")
    print(f"  {machine()}")
    print(
        f"  {args.rounds} round(s) per variant, the tutorial {args.tutorial_rounds}; "
        f"the cli row's executor: {executor}"
    )
    server, url = start_server(args.orders)
    runs: dict[str, list[Run]] = {}
    reference: tuple[str, int, float] | None = None
    try:
        print(f"demo API {url} (pid {server.pid}) pre-warmed in {prewarm(url, day):.1f} s")
        for round_number in range(1, args.rounds + 1):
            for name in variants:
                if name == "api" and round_number > 1:
                    continue
                if name == "tutorial" and round_number > args.tutorial_rounds:
                    continue
                with tempfile.TemporaryDirectory(prefix=f"etl-bench-{name}-") as workdir:
                    before = cpu_seconds(server.pid)
                    run, result = run_once(name, url, day, Path(workdir))
                    if name == "api":
                        server_cpu = cpu_seconds(server.pid) - before
                        print_api(result, server_cpu)
                        continue
                    found = final_orders(result)
                reference = reference or (name, *found)
                check_same_orders(name, found, reference)
                runs.setdefault(name, []).append(run)
                print(
                    f"  round {round_number} {name}: {run.wall:.2f} s, "
                    f"max RSS {run.max_rss_mb:,.0f} MB, CPU {run.user:.2f} user + "
                    f"{run.sys:.2f} sys",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    if reference is None:
        return 0
    _, orders, amount = reference
    print(f"equality check passed: every run loaded {orders} orders, amount {amount:,.2f}")
    report(args.orders, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
