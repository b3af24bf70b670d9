"""Settings of the scale-out mode, read from the environment and validated (no Dagster import).

Every reader names its variable in its error. Connection strings may hold passwords: errors and
descriptions show them through :func:`redact`, never as given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

POSTGRES_URL_VARIABLE = "DAGSTER_POSTGRES_URL"
BROKER_VARIABLE = "CELERY_BROKER_URL"
BACKEND_VARIABLE = "CELERY_RESULT_BACKEND"
DAYS_PER_RUN_VARIABLE = "ETL_BACKFILL_DAYS_PER_RUN"
MAX_RUNS_VARIABLE = "ETL_MAX_CONCURRENT_RUNS"
WAREHOUSE_VARIABLE = "ETL_WAREHOUSE"
CATALOG_VARIABLE = "ETL_DUCKLAKE_CATALOG"
DATA_PATH_VARIABLE = "ETL_DUCKLAKE_DATA_PATH"

WAREHOUSES = ("duckdb", "ducklake")
DEFAULT_WAREHOUSE = "duckdb"
DEFAULT_DAYS_PER_RUN = 1
"""Days per run of a backfill split across Celery workers: one day per run spreads best."""
DEFAULT_MAX_CONCURRENT_RUNS = 4
"""Runs the queue starts at once: each extracts one day from the Sales API and writes the lake."""
MAX_DAYS_PER_RUN = 366
MAX_MAX_CONCURRENT_RUNS = 64

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
BACKEND_SCHEMES = ("redis", "rediss", "rpc", "db+postgresql", "db+postgresql+psycopg2")

REDACTED = "***"
_LIBPQ_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


class SettingError(ValueError):
    """A variable of the deployment is missing or malformed; the message names it."""


def redact(text: str) -> str:
    """``text`` with the password of every URL (``scheme://user:pw@host``) or libpq
    ``password=...`` in it replaced by ``***``."""
    text = re.sub(r"(://[^:/?#@\s]*:)[^@/\s]*@", rf"\1{REDACTED}@", text)
    return _LIBPQ_PASSWORD.sub(rf"\1{REDACTED}", text)


def passwords_in(connection: str) -> list[str]:
    """The password(s) a URL or libpq string holds, as written and decoded, for scrubbing."""
    found: list[str] = []
    if "://" in connection:
        try:
            password = urlsplit(connection).password
        except ValueError:
            password = None
        if password:
            found += [password, unquote(password)]
    for match in _LIBPQ_PASSWORD.finditer(connection):
        found.append(match.group(2).strip("'"))
    return sorted({p for p in found if p}, key=len, reverse=True)


def scrub(text: str, connection: str) -> str:
    """``text`` (e.g. a driver's error) without the passwords of ``connection``."""
    for password in passwords_in(connection):
        text = text.replace(password, REDACTED)
    return redact(text)


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _value(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        raise SettingError(f"{name} is set but empty: give a value or unset it")
    return text


def _required(env: Mapping[str, str], name: str, why: str) -> str:
    value = _value(env, name)
    if value is None:
        raise SettingError(f"{name} is not set: it is required {why}")
    return value


def shown_url(url: str) -> str:
    """``url`` as an error may show it: whatever precedes its last ``@`` (user and password,
    however malformed the URL) replaced by ``***``, its scheme kept."""
    if "@" not in url:
        return redact(url)
    scheme = url.split("//", 1)[0] + "//" if "//" in url.split("@", 1)[0] else ""
    return f"{scheme}{REDACTED}@{url.rsplit('@', 1)[1]}"


def _check_url(name: str, url: str, schemes: tuple[str, ...], *, needs_host: bool) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:  # its text may quote a piece of the password: not shown
        raise SettingError(
            f"{name}={shown_url(url)!r} is not a valid URL (in a password, percent-encode "
            "/ # ? @ : as %2F %23 %3F %40 %3A)"
        ) from None
    if parts.scheme not in schemes:
        raise SettingError(
            f"{name}={shown_url(url)!r} must start with one of "
            + ", ".join(f"{s}://" for s in schemes)
        )
    if needs_host and not parts.hostname:
        raise SettingError(f"{name}={shown_url(url)!r} names no host")
    return url


def postgres_url(environ: Mapping[str, str] | None = None) -> str | None:
    """``DAGSTER_POSTGRES_URL`` (Dagster's instance storage), or None for SQLite."""
    url = _value(_env(environ), POSTGRES_URL_VARIABLE)
    if url is None:
        return None
    _check_url(POSTGRES_URL_VARIABLE, url, POSTGRES_SCHEMES, needs_host=True)
    if not urlsplit(url).path.strip("/"):
        raise SettingError(f"{POSTGRES_URL_VARIABLE}={shown_url(url)!r} names no database")
    return url


@dataclass(frozen=True)
class CelerySettings:
    broker: str
    backend: str


def celery_settings(environ: Mapping[str, str] | None = None) -> CelerySettings:
    """Broker and result backend of the Celery executor and workers (both required)."""
    env = _env(environ)
    why = "with ETL_EXECUTOR=celery (e.g. redis://127.0.0.1:6379/0)"
    broker = _required(env, BROKER_VARIABLE, why)
    backend = _required(env, BACKEND_VARIABLE, "with ETL_EXECUTOR=celery (e.g. redis://...)/1")
    _check_url(BROKER_VARIABLE, broker, BROKER_SCHEMES, needs_host=True)
    _check_url(BACKEND_VARIABLE, backend, BACKEND_SCHEMES, needs_host=False)
    return CelerySettings(broker=broker, backend=backend)


def warehouse_kind(environ: Mapping[str, str] | None = None) -> str:
    """``ETL_WAREHOUSE``: ``duckdb`` (one local file, the default) or ``ducklake``."""
    value = _value(_env(environ), WAREHOUSE_VARIABLE)
    if value is None:
        return DEFAULT_WAREHOUSE
    if value.lower() not in WAREHOUSES:
        raise SettingError(
            f"{WAREHOUSE_VARIABLE}={value!r} is not a warehouse: use one of "
            + ", ".join(WAREHOUSES)
        )
    return value.lower()


@dataclass(frozen=True)
class DuckLakeSettings:
    catalog: str
    """A PostgreSQL connection: ``postgresql://`` URL or libpq ``key=value`` string."""
    data_path: str
    """The folder DuckLake writes Parquet files to, with a trailing slash."""

    def describe(self) -> str:
        return f"DuckLake catalog {redact(self.catalog)}, data {self.data_path}"


def ducklake_settings(environ: Mapping[str, str] | None = None) -> DuckLakeSettings:
    """``ETL_DUCKLAKE_CATALOG`` and ``ETL_DUCKLAKE_DATA_PATH``, both required with ducklake."""
    env = _env(environ)
    why = "with ETL_WAREHOUSE=ducklake"
    catalog = _required(env, CATALOG_VARIABLE, why)
    if "://" in catalog:
        _check_url(CATALOG_VARIABLE, catalog, ("postgresql", "postgres"), needs_host=False)
    elif "=" not in catalog:
        raise SettingError(
            f"{CATALOG_VARIABLE} must be a postgresql:// URL or a libpq string such as"
            " 'dbname=lake host=127.0.0.1 user=postgres'"
        )
    if "'" in catalog:
        raise SettingError(f"{CATALOG_VARIABLE} must not contain a single quote")
    data_path = _required(env, DATA_PATH_VARIABLE, why)
    if "'" in data_path:
        raise SettingError(f"{DATA_PATH_VARIABLE} must not contain a single quote")
    if "://" not in data_path:
        path = Path(data_path).expanduser()
        if path.exists() and not path.is_dir():
            raise SettingError(f"{DATA_PATH_VARIABLE}={data_path!r} is a file, not a folder")
        data_path = str(path.resolve())
    return DuckLakeSettings(catalog=catalog, data_path=data_path.rstrip("/") + "/")


def _positive_int(env: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    value = _value(env, name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingError(f"{name}={value!r} is not a whole number") from None
    if not 1 <= number <= maximum:
        raise SettingError(f"{name}={number} must be between 1 and {maximum}")
    return number


def backfill_days_per_run(environ: Mapping[str, str] | None = None) -> int:
    """``ETL_BACKFILL_DAYS_PER_RUN``: days per run when a backfill is split (default 1)."""
    return _positive_int(
        _env(environ), DAYS_PER_RUN_VARIABLE, DEFAULT_DAYS_PER_RUN, MAX_DAYS_PER_RUN
    )


def max_concurrent_runs(environ: Mapping[str, str] | None = None) -> int:
    """``ETL_MAX_CONCURRENT_RUNS``: runs the queue starts at once (default 4)."""
    return _positive_int(
        _env(environ), MAX_RUNS_VARIABLE, DEFAULT_MAX_CONCURRENT_RUNS, MAX_MAX_CONCURRENT_RUNS
    )


def validate_deployment(executor: str, environ: Mapping[str, str] | None = None) -> str:
    """Read every scale-out variable now (errors name it); return the warehouse kind.

    Code that loads the project calls this, so that a malformed value fails at load, not in the
    middle of a run (and never as a driver's error that might quote a password)."""
    env = _env(environ)
    postgres_url(env)
    max_concurrent_runs(env)
    backfill_days_per_run(env)
    warehouse = warehouse_kind(env)
    check_executor_and_warehouse(executor, warehouse)
    if warehouse == "ducklake":
        ducklake_settings(env)
    if executor == "celery":
        celery_settings(env)
    return warehouse


def check_executor_and_warehouse(executor: str, warehouse: str) -> None:
    """Refuse combinations that cannot work: Celery steps need a warehouse every worker reaches."""
    if executor == "celery" and warehouse != "ducklake":
        raise SettingError(
            f"ETL_EXECUTOR=celery needs {WAREHOUSE_VARIABLE}=ducklake: Celery runs steps in worker"
            " processes, possibly on other machines, and a DuckDB file can be opened by one"
            " writing process on one machine only (use ETL_EXECUTOR=multiprocess on one host)"
        )
