"""``python -m etl_assets_tests.bench [--orders N]``: see the package docstring."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

import requests

from etl_assets.transform import day_window
from etl_assets_tests.bench.baselines import FLOOR_WINDOWS, first_url

DEFAULT_ORDERS = 100_000
DEFAULT_DAY = "2026-11-20"
COMPARED = ("tutorial", "floor", "dagster", "materialize", "cli")
LABELS = {
    "tutorial": "(a) tutorial baseline",
    "floor": "(b) floor",
    "dagster": "(c) daily_sales_job, in-process executor",
    "materialize": "(c') dg.materialize (keeps outputs)",
    "cli": "(d) dagster asset materialize",
}
ALL_VARIANTS = ("api", *COMPARED)
SERVER_START_TIMEOUT_SECONDS = 60
AMOUNT_REL_TOLERANCE = 1e-9  # sums of the same amounts in a different order


class BenchmarkMismatch(AssertionError):
    """Two variants ended with different orders: no figure is worth printing."""


def start_server(orders: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "etl_assets.demo", "--port", "0"]
    command += ["--orders-per-day", str(orders), "--max-page-size", "1000"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    found = re.search(r"http://[\d.]+:\d+", line)
    if not found:
        server.kill()
        raise RuntimeError(f"the demo API did not start: {line!r}")
    return server, found.group(0)


def prewarm(url: str, day: date) -> float:
    """Generate and serialise the day (and the floor's sub-windows) before anything is timed."""
    began = time.perf_counter()
    start, end = day_window(day)
    step = (end - start) / FLOOR_WINDOWS
    windows = [(start, end)] + [(start + step * k, start + step * (k + 1)) for k in range(4)]
    for low, high in windows:
        requests.get(first_url(url, low, high), timeout=600).raise_for_status()
    return time.perf_counter() - began


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_variant(name: str, url: str, day: date, workdir: Path) -> dict[str, Any]:
    """Run one variant in its own process; add its peak RSS (its process tree's maximum)."""
    out = workdir / f"{name}.json"
    command = [sys.executable, "-m", "etl_assets_tests.bench.variants", name, url]
    log = workdir / f"{name}.log"
    with log.open("w") as sink:  # Dagster logs every event: keep them out of the report
        child = subprocess.Popen([*command, day.isoformat(), str(out)], stdout=sink, stderr=sink)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"variant {name} failed (exit code {child.returncode}):\n{tail}")
    result = json.loads(out.read_text())
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def check_same_orders(results: dict[str, dict[str, Any]]) -> tuple[int, float]:
    compared = [name for name in COMPARED if name in results]
    reference = results[compared[0]]
    for name in compared[1:]:
        other = results[name]
        same_count = other["orders"] == reference["orders"]
        same_amount = math.isclose(
            other["amount"], reference["amount"], rel_tol=AMOUNT_REL_TOLERANCE
        )
        if not (same_count and same_amount):
            raise BenchmarkMismatch(
                f"{name} ended with {other['orders']} orders / amount {other['amount']!r}, "
                f"{compared[0]} with {reference['orders']} / {reference['amount']!r}"
            )
    return reference["orders"], reference["amount"]


def machine() -> str:
    versions = ", ".join(
        f"{package} {version(package)}"
        for package in ("dagster", "duckdb", "pandas", "orjson", "pysimdjson")
    )
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {versions}"


def report(orders: int, results: dict[str, dict[str, Any]], server_cpu: float) -> None:
    api = results.get("api")
    if api:
        rate = api["elements"] / api["wall"]
        print(
            f"demo API, plain client (requests Session + orjson): {api['elements']} elements "
            f"in {api['pages']} pages, {api['wall']:.2f} s = {rate:,.0f} elements/s; "
            f"server CPU {server_cpu:.2f} s = {api['elements'] / max(server_cpu, 1e-9):,.0f}"
            " elements per server CPU second"
        )
    print()
    print("| variant | wall s | orders/s | peak RSS MB | vs tutorial | vs floor |")
    print("|---|---:|---:|---:|---:|---:|")
    tutorial, floor = results["tutorial"]["wall"], results["floor"]["wall"]
    for name in COMPARED:
        wall, peak = results[name]["wall"], results[name]["peak_rss_mb"]
        print(
            f"| {LABELS[name]} | {wall:.2f} | {orders / wall:,.0f} | {peak:,.0f} "
            f"| {versus(tutorial / wall)} | {wall / floor:.2f}× the floor's time |"
        )
    print_stages(results["dagster"])


def versus(speedup: float) -> str:
    """``2.50× faster`` or ``1.25× slower``."""
    return f"{speedup:.2f}× faster" if speedup >= 1 else f"{1 / speedup:.2f}× slower"


def print_stages(dagster: dict[str, Any]) -> None:
    print()
    print("dagster (in-process) stages: seconds, and the process's peak RSS (MB) during each")
    stages = dagster["stages"]
    peaks = {k.removeprefix("  peak RSS MB, "): v for k, v in stages.items() if "peak RSS" in k}
    for stage, seconds in stages.items():
        if "peak RSS" not in stage:
            peak = f"{peaks[stage]:9,.0f}" if stage in peaks else ""
            print(f"  {stage:32s} {seconds:7.2f}{peak}")
    counted = sum(s for name, s in stages.items() if not name.startswith(" "))
    print(f"  {'Dagster overhead (rest)':32s} {dagster['wall'] - counted:7.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_assets_tests.bench", description=__doc__)
    parser.add_argument("--orders", type=int, default=DEFAULT_ORDERS, help="orders for the day")
    parser.add_argument("--day", default=DEFAULT_DAY, help="UTC day (default: %(default)s)")
    parser.add_argument(
        "--only",
        help="comma-separated variants to run (no comparison table), e.g. dagster,floor",
    )
    args = parser.parse_args(argv)
    day = date.fromisoformat(args.day)
    variants = args.only.split(",") if args.only else list(ALL_VARIANTS)
    unknown = sorted(set(variants) - set(ALL_VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(ALL_VARIANTS)}")
    print(f"benchmark: {args.orders:,} orders on {day}, 1000-record pages; {machine()}")
    server, url = start_server(args.orders)
    try:
        print(f"demo API {url} (pid {server.pid}) pre-warmed in {prewarm(url, day):.1f} s")
        results: dict[str, dict[str, Any]] = {}
        server_cpu = 0.0
        with tempfile.TemporaryDirectory(prefix="etl-bench-") as workdir:
            for name in variants:
                before = cpu_seconds(server.pid)
                results[name] = run_variant(name, url, day, Path(workdir))
                if name == "api":
                    server_cpu = cpu_seconds(server.pid) - before
                print(
                    f"  {name}: {results[name]['wall']:.2f} s, "
                    f"peak RSS {results[name]['peak_rss_mb']:,.0f} MB",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    if not set(results) & set(COMPARED):
        return 0
    count, amount = check_same_orders(results)
    print(f"equality check passed: every variant loaded {count} orders, amount {amount:,.2f}")
    if set(COMPARED) <= set(results):
        report(args.orders, results, server_cpu)
    elif "dagster" in results:
        print_stages(results["dagster"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
