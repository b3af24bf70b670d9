"""Flaky and dead APIs, and Dagster's retries of the extract step (counted at the server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl_assets_tests.reliability import scenarios_api, scenarios_retries

LIGHT_SOAK_ORDERS = 3_000
HEAVY_SOAK_ORDERS = 50_000


def test_flaky_api_light_soak_loads_exactly_the_truth(tmp_path: Path) -> None:
    row = scenarios_api.flaky_soak(tmp_path, orders=LIGHT_SOAK_ORDERS, retry_after_seconds=0)
    assert row.problems == []
    assert row.expected == row.loaded and row.lost == row.duplicates == 0


@pytest.mark.reliability
@pytest.mark.timeout(600)
def test_flaky_api_soak_50k_orders_500_pages(tmp_path: Path) -> None:
    row = scenarios_api.flaky_soak(tmp_path, orders=HEAVY_SOAK_ORDERS)
    assert row.problems == []
    assert row.loaded == row.expected >= 49_000


def test_permanently_failing_api_fails_after_its_counted_retries_naming_url_and_status(
    tmp_path: Path,
) -> None:
    row = scenarios_api.permanent_failure(tmp_path, kind="503")
    assert row.problems == [], row.notes


@pytest.mark.reliability
def test_unreachable_api_fails_after_its_counted_retries(tmp_path: Path) -> None:
    row = scenarios_api.permanent_failure(tmp_path, kind="refused")
    assert row.problems == [], row.notes


@pytest.mark.reliability
@pytest.mark.timeout(900)  # the documented bound is 645 s
def test_permanently_failing_api_with_default_settings_fails_after_its_counted_retries(
    tmp_path: Path,
) -> None:
    row = scenarios_api.permanent_failure(tmp_path, kind="503", defaults=True)
    assert row.problems == [], row.notes


@pytest.mark.parametrize("case", list(scenarios_retries.OUTCOMES))
def test_dagster_retries_transient_failures_only(tmp_path: Path, case: str) -> None:
    row = scenarios_retries.dagster_retry(tmp_path, case)
    assert row.problems == [], row.notes
