"""The benchmark's variants; each runs in its own process (``python -m ...variants NAME ...``).

This module holds the Dagster ones; ``baselines.py`` the plain client, tutorial and floor.

Every variant reads one UTC day from the demo API at ``url`` and reports, as JSON, its wall time,
the orders of its final table (distinct order_ids, sum of amount) and variant-specific figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from etl_assets_tests.bench.baselines import final_orders, run_api, run_floor, run_tutorial

SELECTION = ["raw_records", "clean_records", "rejected_records", "sales_table"]


# ------------------------------------------------------------------------------------------------
# dagster (in-process dg.materialize) and cli (dagster asset materialize in a subprocess)


def _environment(url: str, workdir: Path, name: str) -> dict[str, str]:
    home = workdir / f"{name}_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        "SALES_API_URL": url,
        "ETL_DUCKDB_PATH": str(workdir / f"{name}.duckdb"),
        "DAGSTER_HOME": str(home),
    }


def _warehouse_orders(path: str, day: date) -> dict[str, float]:
    with duckdb.connect(path, read_only=True) as connection:
        return final_orders(
            connection,
            "SELECT count(DISTINCT order_id), sum(amount) FROM mart.sales_table"
            f" WHERE order_date = DATE '{day.isoformat()}'",
        )


class RssSampler:
    """Samples this process's resident memory every few milliseconds, for per-stage peaks."""

    def __init__(self, interval: float = 0.02) -> None:
        self.samples: list[tuple[float, int]] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        statm = Path("/proc/self/statm")
        while not self._stop.is_set():
            resident = int(statm.read_text().split()[1]) * self._page
            self.samples.append((time.time(), resident))
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mb(self, start: float, end: float) -> float:
        inside = [rss for at, rss in self.samples if start <= at <= end]
        return max(inside, default=0) / 2**20


def stage_times(
    records: list[Any], materialize_metadata: dict[str, Any], rss: RssSampler | None = None
) -> dict[str, float]:
    """Per-stage seconds from the run's event log (step starts, loads, outputs, handled outputs)."""
    marks: dict[tuple[str, str, str], float] = {}
    for record in records:
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        output = getattr(event.event_specific_data, "step_output_handle", None)
        name = output.output_name if output is not None else ""
        name = getattr(event.event_specific_data, "output_name", name) or ""
        marks.setdefault((event.step_key, event.event_type_value, name), record.timestamp)

    peaks: dict[str, float] = {}

    def span(step: str, first: tuple[str, str], second: tuple[str, str]) -> float:
        start, end = marks[(step, *first)], marks[(step, *second)]
        if rss is not None:
            peaks[f"{step}: {first[1] or first[0]} → {second[1] or second[0]}"] = rss.peak_mb(
                start, end
            )
        return end - start

    raw, clean, sales = "raw_records", "clean_and_rejected_records", "sales_table"
    start, success = ("STEP_START", ""), ("STEP_SUCCESS", "")
    loaded = ("LOADED_INPUT", "")

    def out(kind: str, name: str) -> tuple[str, str]:
        return (kind, name)

    stages = {
        "extract (fetch + raw frame)": span(raw, start, out("STEP_OUTPUT", "result")),
        "write raw_records": span(
            raw, out("STEP_OUTPUT", "result"), out("HANDLED_OUTPUT", "result")
        ),
        "raw checks": span(raw, out("HANDLED_OUTPUT", "result"), success),
        "load raw_records": span(clean, start, loaded),
        "clean": span(clean, loaded, out("STEP_OUTPUT", "clean_records")),
        "write clean_records": span(
            clean, out("STEP_OUTPUT", "clean_records"), out("HANDLED_OUTPUT", "clean_records")
        ),
        "write rejected_records": span(
            clean,
            out("STEP_OUTPUT", "rejected_records"),
            out("HANDLED_OUTPUT", "rejected_records"),
        ),
        "clean checks": span(clean, out("HANDLED_OUTPUT", "rejected_records"), success),
        "load clean_records": span(sales, start, loaded),
        "sales rows": span(sales, loaded, out("STEP_OUTPUT", "result")),
        "write sales_table": span(
            sales, out("STEP_OUTPUT", "result"), out("HANDLED_OUTPUT", "result")
        ),
    }
    if "extract_seconds" in materialize_metadata:
        stages["  of which fetch + raw frame"] = float(materialize_metadata["extract_seconds"])
    if rss is not None:
        for stage, peak in zip(list(stages), peaks.values(), strict=False):
            stages[f"  peak RSS MB, {stage}"] = peak
    return stages


def daily_sales_job() -> Any:
    """The job the schedule launches (raw_records → sales_table), for ``dg.reconstructable``."""
    from etl_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("daily_sales_job")


def run_dagster(url: str, day: date, workdir: Path) -> dict[str, Any]:
    """``daily_sales_job`` in this process (in_process executor), as a run worker executes it.

    Not ``dg.materialize``: that test helper keeps every step's output in memory until it
    returns (output capture), which ``materialize_wall``/``materialize_peak_mb`` report apart.
    """
    os.environ.update(_environment(url, workdir, "dagster"))
    import dagster as dg

    in_process = {"execution": {"config": {"in_process": {}}}}
    with dg.instance_for_test() as instance, RssSampler() as rss:
        began = time.perf_counter()
        result = dg.execute_job(
            dg.reconstructable(daily_sales_job),
            instance=instance,
            run_config=in_process,
            tags={"dagster/partition": day.isoformat()},
        )
        wall = time.perf_counter() - began
        if not result.success:
            raise RuntimeError("daily_sales_job failed")
        records = list(instance.all_logs(result.run_id))
        raw_metadata = _materialization_metadata(records, "raw_records")
        stages = stage_times(records, raw_metadata, rss)
        peak = rss.peak_mb(0, time.time())
    orders = _warehouse_orders(os.environ["ETL_DUCKDB_PATH"], day)
    return {"wall": wall, "stages": stages, "peak_mb": peak, **orders}


def _materialization_metadata(records: list[Any], asset: str) -> dict[str, Any]:
    for record in records:
        event = record.dagster_event
        if event is not None and event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = event.event_specific_data.materialization
            if materialization.asset_key.path[-1] == asset:
                return {key: value.value for key, value in materialization.metadata.items()}
    return {}


def run_materialize(url: str, day: date, workdir: Path) -> dict[str, Any]:
    """The same assets through ``dg.materialize`` (the test helper, with output capture)."""
    os.environ.update(_environment(url, workdir, "materialize"))
    import dagster as dg

    from etl_assets.definitions import build_definitions

    defs = build_definitions()
    with dg.instance_for_test() as instance:
        began = time.perf_counter()
        result = dg.materialize(
            list(defs.assets or []),
            resources=defs.resources,
            selection=SELECTION,
            partition_key=day.isoformat(),
            instance=instance,
        )
        wall = time.perf_counter() - began
        if not result.success:
            raise RuntimeError("dg.materialize failed")
    return {"wall": wall, **_warehouse_orders(os.environ["ETL_DUCKDB_PATH"], day)}


def run_cli(url: str, day: date, workdir: Path) -> dict[str, Any]:
    env = {**os.environ, **_environment(url, workdir, "cli")}
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "etl_assets"]
    command += ["--select", ",".join(SELECTION), "--partition", day.isoformat()]
    began = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"dagster asset materialize failed:\n{done.stderr[-3000:]}")
    return {"wall": wall, **_warehouse_orders(env["ETL_DUCKDB_PATH"], day)}


VARIANTS: dict[str, Callable[[str, date, Path], dict[str, Any]]] = {
    "api": run_api,
    "tutorial": run_tutorial,
    "floor": run_floor,
    "dagster": run_dagster,
    "materialize": run_materialize,
    "cli": run_cli,
}


def main(argv: list[str]) -> int:
    name, url, day, out = argv
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
        result = VARIANTS[name](url, date.fromisoformat(day), Path(workdir))
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
