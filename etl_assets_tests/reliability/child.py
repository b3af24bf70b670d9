"""A separate process for the crash and concurrency scenarios (run with ``python -m``).

``run``: materialize ``raw_records*`` for one day with the real assets and IO manager. With
``--pause-before-commit TABLE`` the IO manager's write handlers are wrapped, in this process only,
so that right after the rows of TABLE are inserted, and before the transaction commits, the
process writes ``--signal`` and sleeps: the parent then kills it with SIGKILL. The last line on
stdout is a JSON summary.

``hold``: open the DuckDB file (read-only by default), print ``ready <pid>`` and sleep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

PAUSE_SECONDS = 300.0  # far longer than any parent waits before killing


def _pause_before_commit(table: str, signal_file: Path) -> None:
    from etl_assets.warehouse import in_warehouse, rows_handler

    for handler in (
        rows_handler.WarehouseRowsTypeHandler,
        in_warehouse.WarehouseQueryTypeHandler,
    ):
        _pause_after_insert(handler, table, signal_file)


def _pause_after_insert(handler: Any, table: str, signal_file: Path) -> None:
    """Wrap ``handler``'s writes (DataFrames, or rows computed in the warehouse)."""
    original = handler.handle_output

    def handle_output(self: Any, context: Any, table_slice: Any, obj: Any, connection: Any) -> Any:
        metadata = original(self, context, table_slice, obj, connection)
        if f"{table_slice.schema}.{table_slice.table}" == table:
            rows = metadata["dagster/partition_row_count"]
            signal_file.write_text(f"{os.getpid()} inserted {rows} rows into {table}\n")
            time.sleep(PAUSE_SECONDS)  # the transaction is open: the rows are not committed
        return metadata

    handler.handle_output = handle_output


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    from etl_assets_tests.reliability.support import api_resource, run_pipeline

    if args.pause_before_commit:
        _pause_before_commit(args.pause_before_commit, Path(args.signal))
    with dg.instance_for_test(temp_dir=args.instance_dir) as instance:
        outcome = run_pipeline(
            date.fromisoformat(args.day),
            api=api_resource(args.api_url, page_size=args.page_size),
            warehouse=Path(args.warehouse),
            instance=instance,
            lock_timeout_seconds=args.lock_timeout,
        )
        summary = {
            "success": outcome.success,
            "seconds": round(outcome.seconds, 2),
            "failures": outcome.failure_messages(),
        }
    print(json.dumps(summary), flush=True)
    return 0 if outcome.success else 1


def hold(args: argparse.Namespace) -> int:
    import duckdb

    connection = duckdb.connect(args.warehouse, read_only=not args.write)
    print(f"ready {os.getpid()}", flush=True)
    time.sleep(args.seconds)
    connection.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl_assets_tests.reliability.child")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("--api-url", required=True)
    run_parser.add_argument("--warehouse", required=True)
    run_parser.add_argument("--day", required=True)
    run_parser.add_argument("--instance-dir", required=True)
    run_parser.add_argument("--page-size", type=int, default=100)
    run_parser.add_argument("--lock-timeout", type=float, default=None)
    run_parser.add_argument("--pause-before-commit", default=None, help="schema.table")
    run_parser.add_argument("--signal", default=None)
    hold_parser = commands.add_parser("hold")
    hold_parser.add_argument("--warehouse", required=True)
    hold_parser.add_argument("--seconds", type=float, default=60.0)
    hold_parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else hold(args)


if __name__ == "__main__":
    sys.exit(main())
