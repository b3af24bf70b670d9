"""The single place that wires assets, resources and the warehouse into one ``Definitions``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dagster as dg

from etl_assets.assets import sales_assets
from etl_assets.resources import TOKEN_VARIABLE, URL_VARIABLE, SalesApiResource
from etl_assets.settings import DUCKDB_PATH_VARIABLE, duckdb_path
from etl_assets.warehouse import WarehouseIOManager


def _optional_env(name: str) -> dg.EnvVar | None:
    """An EnvVar only when set, so an unset optional secret means "none", not an error."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_definitions() -> dg.Definitions:
    warehouse_path: str | dg.EnvVar = str(duckdb_path())
    if os.environ.get(DUCKDB_PATH_VARIABLE):
        Path(warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # code references are beta in Dagster 1.13; they work
        warnings.simplefilter("ignore", dg.BetaWarning)
        assets = dg.with_source_code_references(sales_assets)
    return dg.Definitions(
        assets=assets,
        resources={
            "sales_api": SalesApiResource(
                base_url=dg.EnvVar(URL_VARIABLE), token=_optional_env(TOKEN_VARIABLE)
            ),
            "io_manager": WarehouseIOManager(database=warehouse_path),
        },
    )


defs = build_definitions()
