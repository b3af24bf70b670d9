"""The library layers (sources, transform, the contract) import no Dagster; private Dagster
names are imported in one module only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "etl_assets"


@pytest.mark.parametrize(
    "module", ["etl_assets.sources.sales_api", "etl_assets.transform", "etl_assets.schema"]
)
def test_library_modules_load_without_dagster(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.startswith('dagster')))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_private_dagster_imports_live_in_one_module() -> None:
    importers = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if "dagster._core" in path.read_text()
    )
    assert importers == ["warehouse/dagster_internals.py"]
