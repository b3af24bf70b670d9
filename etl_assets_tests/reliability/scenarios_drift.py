"""Schema drift: the source adds a field, drops an optional one, or changes a field's type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from etl_assets.demo import DemoSalesApi
from etl_assets_tests.fault_server import FaultServer, Reply
from etl_assets_tests.reliability.scenarios_api import (
    PRELOAD_ORDERS,
    PRELOAD_SEED,
    Bench,
    bench,
    paged_script,
)
from etl_assets_tests.reliability.support import (
    DAY,
    RunOutcome,
    ScenarioRow,
    api_resource,
    compare_with_truth,
    run_pipeline,
)

DRIFTS = ("added field", "dropped optional field", "quantity became an object")


def _drifted(element: Any, drift: str) -> Any:
    if not isinstance(element, dict):
        return element
    changed = dict(element)
    if drift == "added field":
        changed["loyalty_tier"] = "gold"
    elif drift == "dropped optional field":
        changed.pop("region", None)
    elif "quantity" in changed:
        changed["quantity"] = {"value": changed["quantity"], "unit": "pcs"}
    return changed


def schema_drift(workdir: Path, drift: str) -> ScenarioRow:
    """The source changes shape: handled as documented and reported by the drift check."""
    source = DemoSalesApi(orders_per_day=PRELOAD_ORDERS, seed=PRELOAD_SEED + 2)
    truth = source.day(DAY)
    served = [_drifted(e, drift) for e in truth.elements]
    pages = [served[i : i + 100] for i in range(0, len(served), 100)]
    end = Reply(json={"data": [], "next": None})
    row = ScenarioRow(f"schema drift: {drift}", "every record of the day")
    with bench(workdir) as b, FaultServer(paged_script(pages, end)) as server:
        run = run_pipeline(
            DAY, api=api_resource(server.url), warehouse=b.warehouse, instance=b.instance
        )
        row.seconds = run.seconds
        drift_check = _check_result(run, "source_schema_drift")
        if not run.success:
            row.problems.append(f"run failed: {run.failure_messages()[-1:]}")
        elif drift_check is None or drift_check.passed:
            row.problems.append("the schema drift check did not warn")
        else:
            row.notes.append(f"drift check: {drift_check.description}")
            row.problems += _drift_expectations(b, truth, served, drift)
            if drift != DRIFTS[2]:
                figures = compare_with_truth(b.warehouse, truth)
                row.expected, row.loaded = figures.expected, figures.loaded
                row.duplicates, row.lost = figures.duplicates, figures.lost
        row.problems += b.leaks([run])
    return row


def _check_result(run: RunOutcome, name: str) -> Any:
    for event in run.result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if evaluation.check_name == name:
                return evaluation
    return None


def _drift_expectations(b: Bench, truth: Any, served: list[Any], drift: str) -> list[str]:
    import duckdb

    with duckdb.connect(str(b.warehouse), read_only=True) as conn:
        raw = [
            json.loads(p) for (p,) in conn.execute("SELECT payload FROM raw.raw_records").fetchall()
        ]
        regions = conn.execute("SELECT count(region) FROM mart.sales_table").fetchone()
        reasons = conn.execute(
            "SELECT reason_code, count(*) FROM staging.rejected_records GROUP BY 1"
        ).fetchall()
    problems = [] if sorted(map(repr, raw)) == sorted(map(repr, served)) else ["raw != served"]
    if drift == "added field":
        problems += compare_with_truth(b.warehouse, truth).problems
    elif drift == "dropped optional field":
        problems += [
            p for p in compare_with_truth(b.warehouse, truth).problems if "differ" not in p
        ]
        if regions != (0,):
            problems.append(f"{regions} regions loaded, all should be NULL")
    else:
        objects = sum(
            1 for e in served if isinstance(e, dict) and isinstance(e.get("quantity"), dict)
        )
        by_reason = dict(reasons)
        if by_reason.get("quantity_not_integer", 0) < objects - truth.rejected_count:
            problems.append(f"not every object quantity was rejected: {by_reason}")
    return problems
