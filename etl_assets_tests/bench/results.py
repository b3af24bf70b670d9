"""What the benchmark prints: the rows it measures, the table of medians and each variant's
stages (the measuring itself is ``__main__``'s)."""

from __future__ import annotations

import os
import platform
import statistics
from contextlib import suppress
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

ROWS = ("floor", "dagster", "cli", "dlt", "tutorial")
LABELS = {
    "floor": "floor (http.client + orjson + Arrow + one DuckDB statement)",
    "dagster": "in-process job (raw_records → clean/rejected → sales_table)",
    "cli": "dagster asset materialize -m etl_assets --select 'raw_records*'",
    "dlt": "dlt (Arrow page → merge on order_id → DuckDB)",
    "tutorial": "tutorial (requests, pandas, to_sql into SQLite)",
}
TABLE_HEADER = (
    "| variant | rounds | wall s | [min-max] | × floor | max RSS MB | user + sys CPU s |"
    " outside the work s |"
)


@dataclass
class Run:
    """One measured process: its wall time and max RSS as ``/usr/bin/time`` reports them."""

    wall: float
    max_rss_mb: float
    user: float  # CPU seconds of the process tree, as /usr/bin/time's %U and %S
    sys: float  # a large share here is the kernel faulting in fresh memory pages
    seconds: float  # its work: from its first request to its table written (for Dagster: steps)
    stages: dict[str, float] = field(default_factory=dict)


def machine() -> str:
    versions = []
    for package in ("dagster", "duckdb", "pandas", "pyarrow", "orjson", "dlt"):
        with suppress(PackageNotFoundError):
            versions.append(f"{package} {version(package)}")
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {', '.join(versions)}"


def median_run(runs: list[Run]) -> Run:
    """The round with the median wall time (the upper one of two), whose stages add up."""
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def report(orders: int, runs: dict[str, list[Run]]) -> None:
    floor = statistics.median(run.wall for run in runs["floor"]) if "floor" in runs else None
    print()
    print("Whole processes: wall time and the max RSS of the largest process (wait4, as")
    print("/usr/bin/time -f %M reports it); median over the rounds, [min-max] of wall beside it.")
    print("CPU: user and sys seconds of the process tree (/usr/bin/time's %U and %S); on a VM,")
    print("sys is mostly the kernel faulting in fresh memory, and swings with the machine.")
    print("Outside the work: start-up, imports, definitions, instance, exit (wall minus the time")
    print("from the first request to the table written; for Dagster, minus the steps).")
    print()
    print(TABLE_HEADER)
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ROWS:
        if name not in runs:
            continue
        walls = [run.wall for run in runs[name]]
        wall = statistics.median(walls)
        rss = statistics.median(run.max_rss_mb for run in runs[name])
        outside = statistics.median(run.wall - run.seconds for run in runs[name])
        user = statistics.median(run.user for run in runs[name])
        kernel = statistics.median(run.sys for run in runs[name])
        ratio = f"{wall / floor:.2f}×" if floor else "–"
        print(
            f"| {LABELS[name]} | {len(walls)} | {wall:.2f} | [{min(walls):.2f}-{max(walls):.2f}]"
            f" | {ratio} | {rss:,.0f} | {user:.2f} + {kernel:.2f} | {outside:.2f} |"
        )
    print(f"\n{orders:,} orders; orders/s of the floor: ", end="")
    print(f"{orders / floor:,.0f}" if floor else "–")
    for name in ROWS:
        if name in runs and runs[name][0].stages:
            print_stages(name, runs[name])


def print_stages(name: str, runs: list[Run]) -> None:
    run = median_run(runs)
    stages = run.stages
    peaks = {k.removeprefix("  peak RSS MB, "): v for k, v in stages.items() if "peak RSS" in k}
    print(
        f"\n{name} stages of its median round ({run.wall:.2f} s; seconds, and the sampled peak "
        "RSS MB of the process during each):"
    )
    for stage, seconds in stages.items():
        if "peak RSS" in stage:
            continue
        peak = f"{peaks[stage]:9,.0f}" if stage in peaks else ""
        print(f"  {stage:40s} {seconds:7.2f}{peak}")
    steps = stages.get("steps, first start to last success")
    if steps is not None:
        print(f"  {'whole process minus the steps':40s} {run.wall - steps:7.2f}")


def print_api(result: dict[str, Any], server_cpu: float) -> None:
    elements, wall = result["elements"], result["seconds"]
    print(
        f"demo API, plain client (http.client + orjson): {elements} elements in "
        f"{result['pages']} pages, {wall:.2f} s = {elements / wall:,.0f} elements/s; server CPU "
        f"{server_cpu:.2f} s = {elements / max(server_cpu, 1e-9):,.0f} elements per CPU second"
    )
