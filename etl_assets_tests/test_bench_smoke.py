"""The benchmark runs end to end on a small day: every variant, the equality check, the table."""

from __future__ import annotations

import subprocess
import sys

import pytest

from etl_assets_tests.bench.__main__ import LABELS

SMOKE_ORDERS = 5_000
SMOKE_TIMEOUT_SECONDS = 180


@pytest.mark.slow
def test_benchmark_prints_its_table_after_the_equality_check() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "etl_assets_tests.bench", "--orders", str(SMOKE_ORDERS)],
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "equality check passed: every variant loaded" in out
    assert "| variant | wall s | orders/s | peak RSS MB | vs tutorial | vs floor |" in out
    for label in LABELS.values():
        assert f"| {label} |" in out
    assert "write raw_records" in out and "elements/s" in out
