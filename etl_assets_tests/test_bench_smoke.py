"""The benchmark runs end to end on a small day: every variant, the equality check, the table."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

SMOKE_ORDERS = 5_000
SMOKE_BUDGET_SECONDS = 60


@pytest.mark.slow
def test_benchmark_prints_its_table_after_the_equality_check() -> None:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "etl_assets_tests.bench", "--orders", str(SMOKE_ORDERS)],
        capture_output=True,
        text=True,
        timeout=SMOKE_BUDGET_SECONDS * 2,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert time.monotonic() - began < SMOKE_BUDGET_SECONDS
    out = done.stdout
    assert "equality check passed: every variant loaded" in out
    assert "| variant | wall s | orders/s | peak RSS MB | vs tutorial | vs floor |" in out
    for variant in ("tutorial", "floor", "dagster", "cli"):
        assert f"| {variant} |" in out
    assert "write raw_records" in out and "elements/s" in out
