"""Helpers shared by the test modules: one per concern."""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import dagster as dg
import pytest

from etl_assets.schema import CLEAN_RECORDS, RAW_RECORDS, REJECTED_RECORDS, SALES_TABLE

#: The pipeline's tables up to sales_table, each with the column holding a row's UTC day.
PARTITION_COLUMNS = {
    table.qualified_name: table.partition_column
    for table in (RAW_RECORDS, CLEAN_RECORDS, REJECTED_RECORDS, SALES_TABLE)
}


def materialize_day(
    defs: dg.Definitions,
    day: str,
    *,
    selection: object = "raw_records*",
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    with_checks: bool = False,
) -> dg.ExecuteInProcessResult:
    """Materialize ``selection`` of the project's definitions for one day, in this process;
    ``with_checks`` adds the checks defined apart from the assets (``column_schema_change``)."""
    checks = list(defs.asset_checks or []) if with_checks else []
    return dg.materialize(
        [*(defs.assets or []), *checks],
        resources=defs.resources,
        selection=selection,  # type: ignore[arg-type]
        partition_key=day,
        instance=instance,
        raise_on_error=raise_on_error,
    )


class _RecordingTime:
    """The ``time`` module, except that ``sleep`` also records how long it was asked to sleep."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def record_sleeps(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[float]:
    """The waits ``module`` makes through ``time.sleep``, in order, for the rest of the test.

    The waits still happen (deadlines read the real clock); a test asserts on what was waited,
    not on wall-clock time, which a loaded machine stretches.
    """
    recording = _RecordingTime()
    monkeypatch.setattr(module, "time", recording)
    return recording.waits
