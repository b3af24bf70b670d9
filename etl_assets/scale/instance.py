"""The PostgreSQL ``dagster.yaml`` of the scale-out mode, rendered from the packaged template."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from etl_assets.scale.settings import (
    POSTGRES_URL_VARIABLE,
    SettingError,
    max_concurrent_runs,
    postgres_url,
    warehouse_kind,
)

TEMPLATE = "dagster-postgres.yaml"
MAX_RUNTIME_SECONDS = 3600
"""Run monitoring fails a run older than this (a day's run takes seconds to minutes)."""


def postgres_instance_yaml() -> str:
    """The instance settings; raises :class:`SettingError` when the variables are not usable."""
    if postgres_url() is None:
        raise SettingError(
            f"{POSTGRES_URL_VARIABLE} is not set: --storage postgres stores runs, event logs,"
            " schedules and sensor cursors there (e.g. postgresql://user:pw@host:5432/dagster)"
        )
    runs = max_concurrent_runs()
    template = (resources.files("etl_assets") / "instance" / TEMPLATE).read_text()
    return template.format(
        max_concurrent_runs=runs,
        pool_limit=runs if warehouse_kind() == "ducklake" else 1,
        max_runtime_seconds=MAX_RUNTIME_SECONDS,
    )


def write_instance(home: Path, text: str, *, force: bool) -> bool:
    """Write ``home/dagster.yaml``; an existing, different file is kept unless ``force``.

    Returns whether the file now holds ``text``."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if target.exists() and target.read_text() != text and not force:
        return False
    target.write_text(text)
    return True
