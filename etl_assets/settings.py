"""Where the warehouse lives: ``ETL_DUCKDB_PATH`` or a file under the project's data folder."""

from __future__ import annotations

import os
from pathlib import Path

DUCKDB_PATH_VARIABLE = "ETL_DUCKDB_PATH"
DEFAULT_DUCKDB_FILE = "warehouse.duckdb"


def project_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    package_parent = Path(__file__).resolve().parent.parent
    if (package_parent / "pyproject.toml").is_file():
        return package_parent
    return Path.cwd()


def default_duckdb_path() -> Path:
    return project_root() / "data" / DEFAULT_DUCKDB_FILE


def duckdb_path(environ: dict[str, str] | None = None) -> Path:
    """The DuckDB file to use, validated; errors name ``ETL_DUCKDB_PATH``."""
    env = os.environ if environ is None else environ
    raw = env.get(DUCKDB_PATH_VARIABLE)
    if raw is None:
        return default_duckdb_path()
    text = raw.strip()
    if not text:
        raise ValueError(f"{DUCKDB_PATH_VARIABLE} is set but empty: give a file path or unset it")
    if text == ":memory:":
        raise ValueError(
            f"{DUCKDB_PATH_VARIABLE}=':memory:' would lose every table between steps: give a file"
        )
    path = Path(text).expanduser()
    if path.is_dir():
        raise ValueError(
            f"{DUCKDB_PATH_VARIABLE} points to the folder {path}, not a file: "
            f"use e.g. {path / DEFAULT_DUCKDB_FILE}"
        )
    return path.resolve()
