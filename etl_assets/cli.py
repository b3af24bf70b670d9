"""Console scripts: ``etl-demo-run`` and ``etl-dagster-home``.

``etl-demo-run`` is the one-command demo — demo API up, a few days materialized, a summary. It
starts the bundled demo Sales API on 127.0.0.1, points ``SALES_API_URL`` at it, materializes
``raw_records*`` for the last few complete UTC days into the DuckDB warehouse (recording the runs
in ``DAGSTER_HOME`` so the UI shows them), stops the API and prints what landed where.
``etl-dagster-home`` creates ``DAGSTER_HOME`` with the project's instance settings (SQLite, or
PostgreSQL for the scale-out shape).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

from etl_assets.schema import ALL_TABLES
from etl_assets.settings import DUCKDB_PATH_VARIABLE, duckdb_path, project_root

SUMMARY_TABLES = tuple((table.qualified_name, table.partition_column) for table in ALL_TABLES)
# Per-step DEBUG lines would bury the per-day progress; warnings and errors still show.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    parser = argparse.ArgumentParser(
        prog="etl-demo-run",
        description="Run the pipeline end to end against the bundled demo Sales API.",
    )
    parser.add_argument("--days", type=int, default=3, help="how many days to load (default 3)")
    parser.add_argument(
        "--last-day",
        type=date.fromisoformat,
        default=yesterday,
        help=f"last UTC day to load, YYYY-MM-DD (default yesterday: {yesterday})",
    )
    parser.add_argument("--orders-per-day", type=int, default=500)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.orders_per_day < 1:
        parser.error("--orders-per-day must be at least 1")
    return args


def ensure_dagster_home() -> str:
    """DAGSTER_HOME (default .dagster_home in the checkout), with our dagster.yaml if none."""
    home = Path(os.environ.get("DAGSTER_HOME") or project_root() / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    instance_config = home / "dagster.yaml"
    if not instance_config.exists():
        template = resources.files("etl_assets") / "instance" / "dagster.yaml"
        instance_config.write_text(template.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)


def dagster_home_main(argv: list[str] | None = None) -> int:
    """``etl-dagster-home [--storage sqlite|postgres]``: create DAGSTER_HOME with the project's
    dagster.yaml (SQLite, or PostgreSQL from DAGSTER_POSTGRES_URL); print its path."""
    from etl_assets.scale.settings import POSTGRES_URL_VARIABLE, SettingError

    parser = argparse.ArgumentParser(
        prog="etl-dagster-home",
        description="Create DAGSTER_HOME (default .dagster_home) with this project's dagster.yaml.",
    )
    parser.add_argument(
        "--storage",
        choices=("sqlite", "postgres"),
        default="postgres" if os.environ.get(POSTGRES_URL_VARIABLE) else "sqlite",
        help=f"instance storage (default: postgres when {POSTGRES_URL_VARIABLE} is set)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing, different dagster.yaml"
    )
    args = parser.parse_args(argv)
    if args.storage == "sqlite":
        print(ensure_dagster_home())
        return 0
    from etl_assets.scale.instance import postgres_instance_yaml, write_instance

    try:
        text = postgres_instance_yaml()
    except SettingError as error:
        print(f"etl-dagster-home: {error}", file=sys.stderr)
        return 2
    home = Path(os.environ.get("DAGSTER_HOME") or project_root() / ".dagster_home").resolve()
    if not write_instance(home, text, force=args.force):
        print(
            f"etl-dagster-home: {home / 'dagster.yaml'} exists with other settings; kept it"
            " (--force replaces it)",
            file=sys.stderr,
        )
        return 1
    print(home)
    return 0


def demo_run_main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        warehouse = duckdb_path()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    home = ensure_dagster_home()
    days = [args.last_day - timedelta(days=n) for n in reversed(range(args.days))]

    # Imported here so that --help answers at once and DAGSTER_HOME is set before Dagster loads.
    import dagster as dg

    from etl_assets.definitions import build_definitions
    from etl_assets.demo import DemoSalesApi

    failures = 0
    with DemoSalesApi(orders_per_day=args.orders_per_day, seed=args.seed) as api:
        os.environ["SALES_API_URL"] = api.url
        os.environ.pop("SALES_API_TOKEN", None)
        print(f"Demo Sales API on {api.url} ({args.orders_per_day} orders/day, seed {args.seed})")
        print(f"Warehouse: {warehouse}   DAGSTER_HOME: {home}")
        defs = build_definitions()
        with dg.DagsterInstance.get() as instance:
            for number, day in enumerate(days, start=1):
                print(f"[{number}/{len(days)}] {day}: materializing raw_records* ...", flush=True)
                began = time.monotonic()
                result = dg.materialize(
                    list(defs.assets or []),
                    resources=defs.resources,
                    selection="raw_records*",
                    partition_key=day.isoformat(),
                    instance=instance,
                    raise_on_error=False,
                    run_config=QUIET_RUN_CONFIG,
                )
                failures += _report_day(result, day, time.monotonic() - began)
    _print_summary(str(warehouse), failures)
    return 1 if failures else 0


def _report_day(result: object, day: date, seconds: float) -> int:
    success = getattr(result, "success", False)
    if not success:
        print(f"    FAILED after {seconds:.1f} s: {_first_error(result)}", flush=True)
        return 1
    counts = {}
    for event in result.get_asset_materialization_events():  # type: ignore[attr-defined]
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.to_user_string() == "clean_records":
            counts = {k: v.value for k, v in materialization.metadata.items()}
    print(
        f"    ok in {seconds:.1f} s: {counts.get('served', '?')} served → "
        f"{counts.get('clean', '?')} clean, {counts.get('rejected', '?')} rejected, "
        f"{counts.get('duplicates', '?')} duplicates, {counts.get('superseded', '?')} superseded",
        flush=True,
    )
    return 0


def _first_error(result: object) -> str:
    for event in result.all_events:  # type: ignore[attr-defined]
        if event.is_step_failure and event.step_failure_data.error:
            return event.step_failure_data.error.message.strip().splitlines()[0]
    return "see the run's logs"


def _print_summary(warehouse: str, failures: int) -> None:
    from etl_assets.warehouse import connect_warehouse

    print("\nSummary")
    if not os.path.exists(warehouse):
        print(f"  no warehouse was written at {warehouse}")
        return
    with connect_warehouse(warehouse, read_only=True) as conn:
        for table, day_column in SUMMARY_TABLES:
            try:
                total, days = conn.execute(
                    f"SELECT count(*), count(DISTINCT {day_column}) FROM {table}"
                ).fetchone()
            except Exception:  # the table does not exist yet
                print(f"  {table:<26} (not created)")
                continue
            print(f"  {table:<26} {total:>8} rows over {days} day(s)")
        try:
            reasons = conn.execute(
                "SELECT reason_code, count(*) FROM staging.rejected_records "
                "GROUP BY ALL ORDER BY 2 DESC, 1"
            ).fetchall()
        except Exception:
            reasons = []
    if reasons:
        print("  rejected rows by reason:")
        for code, count in reasons:
            print(f"    {code:<28} {count:>6}")
    print(f"\nDuckDB file: {warehouse}")
    query = f"duckdb.connect('{warehouse}', read_only=True).sql('FROM mart.sales_table LIMIT 5')"
    print(f'  query it:   {sys.executable} -c "import duckdb; print({query})"')
    print("Open the UI: make ui   (demo API + dagster dev on http://127.0.0.1:3000)")
    if failures:
        print(f"\n{failures} day(s) failed: see the messages above.")
    if DUCKDB_PATH_VARIABLE not in os.environ:
        print(f"Set {DUCKDB_PATH_VARIABLE} to write elsewhere.")
