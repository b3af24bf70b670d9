"""``etl-celery-worker --name NAME [--concurrency N]``: a Celery worker for this project's steps.

It runs in the foreground, logs at INFO (Celery's "ready" line included) and reads the same
environment as the webserver and daemon: CELERY_BROKER_URL, CELERY_RESULT_BACKEND, the warehouse
variables (ETL_WAREHOUSE=ducklake, ETL_DUCKLAKE_*) and whatever the steps need (SALES_API_URL).
Its Celery node name is ``NAME@<host>``, which Dagster's event log shows for every step.
"""

from __future__ import annotations

import argparse
import re
import sys

from etl_assets.scale.settings import SettingError, validate_deployment

DEFAULT_CONCURRENCY = 1
"""Steps one worker runs at once (one process each): a step is mostly one core of pandas/DuckDB."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="etl-celery-worker",
        description="Run a Celery worker for the project's steps (ETL_EXECUTOR=celery).",
    )
    parser.add_argument("--name", required=True, help="worker name; the Celery node is NAME@<host>")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"steps run at once, one process each (default {DEFAULT_CONCURRENCY})",
    )
    args = parser.parse_args(argv)
    if not _NAME.fullmatch(args.name):
        parser.error("--name may hold letters, digits, '_', '.' and '-' only (no '@')")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    from etl_assets.scale.celery import QUEUE, install_worker_config

    try:
        validate_deployment("celery")
        install_worker_config()
    except SettingError as error:
        print(f"etl-celery-worker: {error}", file=sys.stderr)
        return 2

    from dagster_celery.app import app  # reads the settings installed above

    app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--hostname={args.name}@%h",
            f"--concurrency={args.concurrency}",
            f"--queues={QUEUE}",
            "--prefetch-multiplier=1",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
