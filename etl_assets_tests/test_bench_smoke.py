"""The benchmark runs end to end on a small day: every variant, the equality check, the table."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from etl_assets_tests.bench.__main__ import BenchmarkMismatch, check_same_orders
from etl_assets_tests.bench.results import LABELS, TABLE_HEADER

SMOKE_ORDERS = 5_000
SMOKE_TIMEOUT_SECONDS = 180


def run_bench(only: str) -> str:
    command = [sys.executable, "-m", "etl_assets_tests.bench", "--orders", str(SMOKE_ORDERS)]
    done = subprocess.run(
        [*command, "--rounds", "1", "--only", only],
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_benchmark_prints_its_table_after_the_equality_check() -> None:
    out = run_bench("api,floor,dagster,cli,tutorial")
    assert "equality check passed: every run loaded" in out
    assert out.index("equality check passed") < out.index(TABLE_HEADER)
    for name in ("floor", "dagster", "cli", "tutorial"):
        assert f"| {LABELS[name]} | 1 |" in out
    assert "| 1.00× |" in out  # the floor against itself
    cpu = r"round 1 floor: [\d.]+ s, max RSS [\d,]+ MB, CPU [\d.]+ user \+ [\d.]+ sys"
    assert re.search(cpu, out)
    assert "write raw_records" in out and "whole process minus the steps" in out
    assert "elements/s" in out


@pytest.mark.slow
def test_benchmark_dlt_row_loads_the_same_orders_as_the_floor() -> None:
    pytest.importorskip("dlt", reason="dlt is the bench extra: make bench (or .[bench]) adds it")
    out = run_bench("floor,dlt")
    assert "equality check passed: every run loaded" in out
    assert f"| {LABELS['dlt']} | 1 |" in out
    assert "normalize" in out and "load (merge into DuckDB)" in out


def test_a_variant_with_other_orders_fails_the_benchmark() -> None:
    check_same_orders("dlt", (10, 99.5), ("floor", 10, 99.5))
    with pytest.raises(BenchmarkMismatch, match="dlt ended with 9 orders"):
        check_same_orders("dlt", (9, 99.5), ("floor", 10, 99.5))
    with pytest.raises(BenchmarkMismatch):
        check_same_orders("dlt", (10, 99.0), ("floor", 10, 99.5))
