"""Helpers shared by the test modules: one per concern."""

from __future__ import annotations

import dagster as dg

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
