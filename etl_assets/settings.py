"""Deployment settings read from the environment: where the warehouse lives, which executor runs.

Each reader validates its variable and names it in the error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

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


def duckdb_path(environ: Mapping[str, str] | None = None) -> Path:
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


EXECUTOR_VARIABLE = "ETL_EXECUTOR"
ONE_MACHINE_EXECUTOR = "in_process"
EXECUTORS = ("in_process", "multiprocess", "celery")
"""Dagster executors a run may use (``ETL_EXECUTOR``).

``in_process`` (default): the steps of a run form a chain, so on one machine one process per run
is fastest (no interpreter, Dagster and pandas start-up per step). ``multiprocess``: one process
per step. ``celery``: steps on Celery workers (the scale-out shape).
"""


def executor_name(environ: Mapping[str, str] | None = None) -> str:
    """The executor ``ETL_EXECUTOR`` names (default ``in_process``); errors name the variable."""
    env = os.environ if environ is None else environ
    value = (env.get(EXECUTOR_VARIABLE) or "").strip().lower()
    if not value:
        return ONE_MACHINE_EXECUTOR
    if value not in EXECUTORS:
        raise ValueError(
            f"{EXECUTOR_VARIABLE}={env.get(EXECUTOR_VARIABLE)!r} is not an executor: use one of "
            + ", ".join(EXECUTORS)
        )
    return value


PARTITIONS_START_VARIABLE = "ETL_PARTITIONS_START"
DEFAULT_PARTITIONS_START = "2025-01-01"


def partitions_start(environ: Mapping[str, str] | None = None) -> str:
    """The first daily partition (``ETL_PARTITIONS_START``, ISO date; default 2025-01-01)."""
    text = _text(PARTITIONS_START_VARIABLE, environ)
    if not text:
        return DEFAULT_PARTITIONS_START
    try:
        if len(text) != len("YYYY-MM-DD"):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(
            f"{PARTITIONS_START_VARIABLE}={text!r} is not a date: use YYYY-MM-DD, e.g. 2025-01-01"
        ) from None


SCHEDULE_LOOKBACK_VARIABLE = "ETL_SCHEDULE_LOOKBACK_DAYS"
DEFAULT_SCHEDULE_LOOKBACK_DAYS = 3
MAX_SCHEDULE_LOOKBACK_DAYS = 366


def schedule_lookback_days(environ: Mapping[str, str] | None = None) -> int:
    """How many complete UTC days each schedule tick reloads (``ETL_SCHEDULE_LOOKBACK_DAYS``)."""
    text = _text(SCHEDULE_LOOKBACK_VARIABLE, environ)
    if not text:
        return DEFAULT_SCHEDULE_LOOKBACK_DAYS
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_SCHEDULE_LOOKBACK_DAYS:
        raise ValueError(
            f"{SCHEDULE_LOOKBACK_VARIABLE}={text!r} must be a whole number of days from 1 to "
            f"{MAX_SCHEDULE_LOOKBACK_DAYS}"
        )
    return int(text)


CRON_VARIABLE = "ETL_SCHEDULE_CRON"
# Shortly after midnight UTC: yesterday's window [D, D+1) is then closed.
DEFAULT_CRON = "15 0 * * *"
TIMEZONE_VARIABLE = "ETL_SCHEDULE_TIMEZONE"
DEFAULT_TIMEZONE = "UTC"


def schedule_cron(environ: Mapping[str, str] | None = None) -> str:
    """The cron of the daily schedule (``ETL_SCHEDULE_CRON``); Dagster checks it when the
    schedule is built, and ``definitions.py`` names the variable if it refuses it."""
    return _text(CRON_VARIABLE, environ) or DEFAULT_CRON


def schedule_timezone(environ: Mapping[str, str] | None = None) -> str:
    """The time zone of that cron (``ETL_SCHEDULE_TIMEZONE``, an IANA name such as UTC)."""
    text = _text(TIMEZONE_VARIABLE, environ)
    if not text:
        return DEFAULT_TIMEZONE
    try:
        ZoneInfo(text)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(
            f"{TIMEZONE_VARIABLE}={text!r} is not a time zone: use an IANA name such as UTC or "
            "Europe/Berlin"
        ) from None
    return text


def _text(variable: str, environ: Mapping[str, str] | None) -> str:
    """The variable's value without surrounding whitespace; "" when unset (``environ``: the
    process environment by default)."""
    env = os.environ if environ is None else environ
    return (env.get(variable) or "").strip()
