"""Pagination traps, schema drift, and arbitrary JSON through the cleaning step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from etl_assets_tests.reliability import scenarios_api, scenarios_drift
from etl_assets_tests.reliability.properties import cleaning_invariant_violations, elements


@pytest.mark.parametrize("trap", list(scenarios_api.TRAPS))
def test_pagination_trap_on_page_3_fails_clearly_and_keeps_the_day(
    tmp_path: Path, trap: str
) -> None:
    row = scenarios_api.pagination_trap(tmp_path, trap)
    assert row.problems == []


@pytest.mark.parametrize("drift", scenarios_drift.DRIFTS)
def test_schema_drift_is_handled_as_documented_and_reported(tmp_path: Path, drift: str) -> None:
    row = scenarios_drift.schema_drift(tmp_path, drift)
    assert row.problems == [], row.notes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elements)
def test_cleaning_never_raises_and_always_reconciles(served: list[Any]) -> None:
    assert cleaning_invariant_violations(served) == []


def test_a_lone_surrogate_refuses_the_page_and_keeps_the_day_as_it_was(tmp_path: Path) -> None:
    """DuckDB, the one reader of page bodies, refuses a lone surrogate escape (not Unicode):
    the run fails naming the page and the problem; the day keeps its previous rows."""
    from etl_assets_tests.fault_server import FaultServer, Reply
    from etl_assets_tests.reliability.support import DAY, api_resource, run_pipeline, snapshot

    broken = {"order_id": 1, "product": "Mug \ud83d", "quantity": 1, "unit_price": 2.0,
              "timestamp": "2026-11-20T10:00:00Z"}  # fmt: skip
    page = Reply(json={"data": [broken], "next": None})  # json.dumps escapes it: \ud83d
    with scenarios_api.bench(tmp_path) as b, FaultServer(lambda _r: page) as server:
        scenarios_api.preload(b)
        before = snapshot(b.warehouse)
        run = run_pipeline(
            DAY, api=api_resource(server.url), warehouse=b.warehouse, instance=b.instance
        )
        assert not run.success
        failure = run.failure_messages()[-1]
        assert "page 1" in failure and "no low surrogate in string" in failure, failure[-500:]
        assert snapshot(b.warehouse) == before and before["raw.raw_records 2026-11-20"]


def test_a_far_future_updated_at_is_rejected_not_a_crash() -> None:
    # Found by the 2,000-example run: "9999-12-31" (a common "never" sentinel) parsed, then
    # overflowed pandas' nanosecond range inside clean_orders and failed the whole day.
    served = [{"order_id": 1, "updated_at": "9999-12-31T23:59:59Z"}]
    assert cleaning_invariant_violations(served) == []
