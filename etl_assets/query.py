"""``etl-query [--csv] "SQL"``: one read-only query against the configured warehouse.

The same SQL (``select count(*) from mart.sales_table``) works on the DuckDB file and on
DuckLake (attached read-only and made the default database). With ``--csv`` stdout holds exactly
a header row and the rows (Python's csv module; NULL as an empty field; numbers written plainly);
messages and errors go to stderr.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import duckdb

EXIT_QUERY_ERROR = 1
EXIT_USAGE = 2


class QueryRefused(ValueError):
    """The SQL is not one read-only statement."""


def plain_value(value: object) -> str:
    """A CSV field: '' for NULL, numbers without exponent or type decoration, ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def check_read_only(sql: str) -> str:
    """The single SELECT-like statement in ``sql``; raise :class:`QueryRefused` otherwise."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryRefused(str(error)) from None
    if len(statements) != 1:
        raise QueryRefused(f"give exactly one SQL statement (got {len(statements)})")
    statement = statements[0]
    if statement.type not in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
        raise QueryRefused(
            f"only queries are allowed (SELECT, FROM, WITH, EXPLAIN), not {statement.type.name}"
        )
    return statement.query


@contextmanager
def read_only_warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    """The configured warehouse (ETL_WAREHOUSE), opened read-only."""
    from etl_assets.scale.settings import ducklake_settings, warehouse_kind

    if warehouse_kind() == "ducklake":
        from etl_assets.warehouse.ducklake import connect_ducklake

        with connect_ducklake(ducklake_settings(), read_only=True) as connection:
            yield connection
        return
    from etl_assets.settings import duckdb_path
    from etl_assets.warehouse import connect_warehouse

    path = duckdb_path()
    if not Path(path).exists():
        raise FileNotFoundError(f"no warehouse at {path} yet: materialize some days first")
    with connect_warehouse(str(path), read_only=True) as connection:
        yield connection


def write_csv(columns: Sequence[str], rows: Sequence[Sequence[object]], out=None) -> None:
    writer = csv.writer(out or sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([plain_value(v) for v in row])


def write_table(columns: Sequence[str], rows: Sequence[Sequence[object]], out=None) -> None:
    """Aligned columns for people."""
    out = out or sys.stdout
    cells = [list(columns)] + [[plain_value(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for number, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)
        if number == 0:
            print("  ".join("-" * w for w in widths), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="etl-query",
        description="Run one read-only SQL query against the warehouse (DuckDB file or DuckLake).",
    )
    parser.add_argument("sql", help='e.g. "select count(*) from mart.sales_table"')
    parser.add_argument("--csv", action="store_true", help="CSV on stdout: header row, then rows")
    args = parser.parse_args(argv)
    from etl_assets.scale.settings import SettingError, redact

    try:
        sql = check_read_only(args.sql)
        with read_only_warehouse() as connection:
            result = connection.execute(sql)
            columns = [d[0] for d in result.description or []]
            rows = result.fetchall()
    except (QueryRefused, SettingError, FileNotFoundError) as error:
        print(f"etl-query: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as error:  # DuckDB's message, minus any password
        print(f"etl-query: {redact(str(error))}", file=sys.stderr)
        return EXIT_QUERY_ERROR
    if args.csv:
        write_csv(columns, rows)
    else:
        write_table(columns, rows)
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
