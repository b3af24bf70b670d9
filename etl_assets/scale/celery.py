"""The Celery side of the scale-out mode: the executor every job uses, and the workers' settings.

Broker and backend are read from ``CELERY_BROKER_URL`` / ``CELERY_RESULT_BACKEND`` by both the
run (an ``env:`` reference in the executor's config, so no URL is stored with the run) and the
worker (``etl-celery-worker``), so both always agree, and no file holds a URL.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from typing import Any

from etl_assets.scale.settings import BACKEND_VARIABLE, BROKER_VARIABLE, celery_settings

VISIBILITY_TIMEOUT_SECONDS = 900
"""Redis broker only: a step whose worker died unacknowledged is handed to another worker after
this long (RabbitMQ does it as soon as the dead worker's connection drops). A step running longer
than this on Redis would be handed out a second time."""

QUEUE = "dagster"
"""The queue dagster-celery submits steps to and the workers listen on."""

CELERY_APP_SETTINGS: dict[str, Any] = {
    # A step is acknowledged when it ends, not when it starts: if its worker is killed, the
    # broker hands the step to another worker instead of losing it (the run would wait forever).
    # Every step is safe to run again: a partition replace is one transaction.
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
    "broker_transport_options": {
        # Publishing a step to an unreachable broker fails after about a second, not never.
        "max_retries": 3,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
        "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
    },
}
"""Settings the executor (which submits steps) and every worker share."""


def celery_executor_definition() -> Any:
    """dagster-celery's executor, configured from the environment by reference."""
    from dagster_celery import celery_executor

    celery_settings()  # fail at load, naming the variable, when one is missing or malformed
    return celery_executor.configured(
        {
            "broker": {"env": BROKER_VARIABLE},
            "backend": {"env": BACKEND_VARIABLE},
            "config_source": CELERY_APP_SETTINGS,
        },
        name="celery_executor",
    )


def install_worker_config() -> None:
    """Make ``dagster_celery.app`` read our settings when it is imported in this process.

    dagster-celery's own ``worker start -y`` writes the resolved broker URL (password included)
    into a Python file under DAGSTER_HOME; this module object takes its place, in memory only.
    """
    settings = celery_settings()
    module = types.ModuleType("dagster_celery_config")
    module.__spec__ = importlib.machinery.ModuleSpec("dagster_celery_config", None)
    module.broker_url = settings.broker  # type: ignore[attr-defined]
    module.result_backend = settings.backend  # type: ignore[attr-defined]
    for key, value in CELERY_APP_SETTINGS.items():
        setattr(module, key, value)
    sys.modules["dagster_celery_config"] = module
