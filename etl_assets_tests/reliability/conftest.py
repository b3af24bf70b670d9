"""The ``reliability`` marker: heavy scenarios, deselected unless asked for.

They run with ``ETL_RELIABILITY=1 pytest etl_assets_tests/reliability`` or with an explicit
``-m reliability``; ``python -m etl_assets_tests.reliability.report`` runs them and prints the
figures. The light versions of every scenario run in the default suite.
"""

from __future__ import annotations

import os

import pytest

MARKER = "reliability"
ENABLE_VARIABLE = "ETL_RELIABILITY"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: heavy reliability scenarios (minutes); set {ENABLE_VARIABLE}=1"
    )


def _asked_for(config: pytest.Config) -> bool:
    return os.environ.get(ENABLE_VARIABLE) == "1" or MARKER in (config.option.markexpr or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for(config):
        return
    heavy = [item for item in items if item.get_closest_marker(MARKER)]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if not item.get_closest_marker(MARKER)]
