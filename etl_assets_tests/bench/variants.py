"""The benchmark's variants, each run as its own process and measured whole by the parent:
``python -m etl_assets_tests.bench.variants NAME URL DAY WORKDIR OUT``.

Each variant imports only what it uses (this module imports nothing but the standard library at
the top), reads one UTC day from the demo API at URL, loads it into a database in WORKDIR and
writes to OUT, as JSON, where its table is (``database``, ``table``), the seconds of its own work
(``seconds``, after its imports) and, for some, ``stages``. The parent counts the orders.

This module holds the Dagster variant (``dagster``: ``daily_sales_job`` in this process, as a
run worker executes it) and reads the stage times of a Dagster run from its event log
(``stages``, also used for the ``cli`` row after ``dagster asset materialize`` exits).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

RUNNERS = {
    "api": ("etl_assets_tests.bench.floor", "run_api"),
    "floor": ("etl_assets_tests.bench.floor", "run_floor"),
    "dlt": ("etl_assets_tests.bench.peer_dlt", "run_dlt"),
    "tutorial": ("etl_assets_tests.bench.baselines", "run_tutorial"),
    "dagster": ("etl_assets_tests.bench.variants", "run_dagster"),
}
"""Variant name -> (module, function) run in the variant's process."""


class RssSampler:
    """Samples this process's resident memory every few milliseconds, for per-stage peaks.

    Indicative only (it misses peaks shorter than the interval): the reported memory of a
    variant is its process's exact max RSS, which the parent reads from ``wait4``.
    """

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


def stage_times(
    records: list[Any], samples: list[tuple[float, int]] | None = None
) -> dict[str, float]:
    """Per-stage seconds from a run's event log (step starts, loads, outputs, handled outputs);
    with ``samples`` (time, RSS bytes), each stage's sampled peak as ``  peak RSS MB, <stage>``."""
    marks: dict[tuple[str, str, str], float] = {}
    run_marks: dict[str, float] = {}
    for record in records:
        event = record.dagster_event
        if event is not None and event.step_key is None:
            run_marks.setdefault(event.event_type_value, record.timestamp)
        if event is None or event.step_key is None:
            continue
        output = getattr(event.event_specific_data, "step_output_handle", None)
        name = output.output_name if output is not None else ""
        name = getattr(event.event_specific_data, "output_name", name) or ""
        marks.setdefault((event.step_key, event.event_type_value, name), record.timestamp)

    raw, clean, sales = "raw_records", "clean_and_rejected_records", "sales_table"
    spans = {
        "extract (fetch + raw frame)": (raw, ("STEP_START", ""), ("STEP_OUTPUT", "result")),
        "write raw_records": (raw, ("STEP_OUTPUT", "result"), ("HANDLED_OUTPUT", "result")),
        "raw checks": (raw, ("HANDLED_OUTPUT", "result"), ("STEP_SUCCESS", "")),
        "load raw_records": (clean, ("STEP_START", ""), ("LOADED_INPUT", "")),
        "clean": (clean, ("LOADED_INPUT", ""), ("STEP_OUTPUT", "clean_records")),
        "write clean_records": (
            clean,
            ("STEP_OUTPUT", "clean_records"),
            ("HANDLED_OUTPUT", "clean_records"),
        ),
        "write rejected_records": (
            clean,
            ("STEP_OUTPUT", "rejected_records"),
            ("HANDLED_OUTPUT", "rejected_records"),
        ),
        "clean checks": (clean, ("HANDLED_OUTPUT", "rejected_records"), ("STEP_SUCCESS", "")),
        # sales_table reads clean_records inside the warehouse, in its write (WarehouseQuery).
        "sales query": (sales, ("STEP_START", ""), ("STEP_OUTPUT", "result")),
        "write sales_table (from clean_records)": (
            sales,
            ("STEP_OUTPUT", "result"),
            ("HANDLED_OUTPUT", "result"),
        ),
    }
    stages: dict[str, float] = {}
    peaks: dict[str, float] = {}
    for stage, (step, first, second) in spans.items():
        start, end = marks[(step, *first)], marks[(step, *second)]
        stages[stage] = end - start
        if samples:
            inside = [rss for at, rss in samples if start <= at <= end]
            peaks[f"  peak RSS MB, {stage}"] = max(inside, default=0) / 2**20
    first_start = min(at for (_, kind, _), at in marks.items() if kind == "STEP_START")
    last_end = max(at for (_, kind, _), at in marks.items() if kind == "STEP_SUCCESS")
    stages["steps, first start to last success"] = last_end - first_start
    # Run-level events (Dagster still names them PIPELINE_*), and when they happened.
    stages["run start → first step start"] = first_start - run_marks["PIPELINE_START"]
    stages["last step success → run success"] = run_marks["PIPELINE_SUCCESS"] - last_end
    stages["@run start (epoch)"] = run_marks["PIPELINE_START"]
    stages["@run success (epoch)"] = run_marks["PIPELINE_SUCCESS"]
    return {**stages, **peaks}


def daily_sales_job() -> Any:
    """The job the schedule launches (raw_records → sales_table), for ``dg.reconstructable``."""
    import etl_assets  # as a run worker loads the code location: ``-m etl_assets``

    return etl_assets.defs.resolve_job_def("daily_sales_job")


def run_dagster(url: str, day: date, workdir: Path) -> dict[str, Any]:
    """``daily_sales_job`` in this process (in_process executor), as a run worker executes it,
    on the instance of ``DAGSTER_HOME`` that the parent prepared (as for the CLI). Its stage
    times are read afterwards, outside the measured process (``latest_run_stages``).

    Run alone (e.g. under a profiler) it needs only URL, DAY, WORKDIR and OUT: the warehouse
    and, when DAGSTER_HOME is unset, the instance go to WORKDIR."""
    began = time.perf_counter()
    os.environ["SALES_API_URL"] = url
    os.environ.setdefault("ETL_DUCKDB_PATH", str(workdir / "warehouse.duckdb"))
    if not os.environ.get("DAGSTER_HOME"):
        home = workdir / "dagster_home"
        home.mkdir(exist_ok=True)
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance, RssSampler() as rss:
        started = time.perf_counter()
        result = dg.execute_job(
            dg.reconstructable(daily_sales_job),
            instance=instance,
            tags={"dagster/partition": day.isoformat()},
        )
        executed = time.perf_counter()
        if not result.success:
            raise RuntimeError("daily_sales_job failed")
    return {
        "seconds": executed - began,
        "stages": {"imports, instance": started - began, "execute_job": executed - started},
        "rss_samples": rss.samples,
        "database": os.environ["ETL_DUCKDB_PATH"],
        "table": "mart.sales_table",
    }


def latest_run_stages(samples: list[tuple[float, int]] | None = None) -> dict[str, float]:
    """The stage times of the latest run on the ``DAGSTER_HOME`` instance."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs(limit=1)
        return stage_times(list(instance.all_logs(run.run_id)), samples)


def main(argv: list[str]) -> int:
    if argv[:1] == ["stages"]:  # stages OUT [SAMPLES]: not a variant, not measured
        samples = json.loads(Path(argv[2]).read_text()) if len(argv) > 2 else None
        Path(argv[1]).write_text(json.dumps(latest_run_stages(samples)))
        return 0
    name, url, day, workdir, out = argv
    module, function = RUNNERS[name]
    runner: Callable[[str, date, Path], dict[str, Any]]
    runner = getattr(importlib.import_module(module), function)
    result = runner(url, date.fromisoformat(day), Path(workdir))
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
