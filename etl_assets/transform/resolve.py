"""Valid versions → one row per order: the latest wins, gaps are filled from the same order only.

Runs in DuckDB over the typed versions (``fast.version_columns``) and the day's elements. Orders
served once pass straight through; for the others one hash aggregation picks the winner, the
version with the greatest ``(version known, version, _record_index)``, and takes a field the
winner lacks from the greatest version that has it. Only the differing payloads of orders served
more than once are canonicalised in Python to tell duplicates from new versions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from etl_assets.contract import OrderContract, decode_json

LINEAGE = ("_record_index", "_page", "_position")


@dataclass(frozen=True)
class Resolution:
    """What resolving the versions of a day gives."""

    clean: pa.Table
    """One row per complete order: the clean_records columns, in no particular order (sorting
    a day of rows would hold a second copy of it: ~200 MB at 1M orders)."""
    incomplete: pa.Table
    """The winners of the orders still lacking a required field once filled, or whose amount
    is not a finite number: ``order_id``, lineage, payload ``p``, a ``missing_<field>`` flag per
    required field and ``amount_not_finite``."""
    duplicates: int
    """Valid versions identical (as decoded JSON) to an earlier one of the same order."""


@dataclass(frozen=True)
class _Sql:
    """The statements of one call, and the names they give its inputs (registered) and the
    tables and view made from them: names of the call's own, so that none is the caller's."""

    versions: str
    elements: str
    repeated_table: str
    multi_resolved_table: str
    resolved_view: str
    multi_payloads_table: str
    repeated: str
    multi_resolved: str
    resolved: str
    clean: str
    incomplete: str
    multi_payloads: str
    distinct: str
    ambiguous: str


def _sql(contract: OrderContract, tag: str) -> _Sql:
    names = ("versions", "elements", "repeated", "multi_resolved", "resolved", "multi_payloads")
    versions, elements, repeated, multi_resolved, resolved, multi_payloads = (
        f"{name}_{tag}" for name in names
    )
    key, version = contract.key.column_name, contract.version.column_name
    fillable = [f.column_name for f in contract.fillable]
    present = " AND ".join(f"{f.column_name} IS NOT NULL" for f in contract.required_after_fill)
    complete = f"{present} AND isfinite({contract.amount_sql})"
    # Newest version last: one without a version is the oldest; ties go to the one served last.
    # One HUGEINT orders them: the microsecond of the version (below every real one when
    # unknown), then the element's position in the stream (below 2**40).
    newest = (
        f"(coalesce(epoch_us({version})::HUGEINT, {-(2**80)}::HUGEINT) * {2**40} + _record_index)"
    )
    filled = ", ".join(
        f"CASE WHEN lacks_{name} AND {name} IS NOT NULL THEN '{name}' END" for name in fillable
    )
    typed = ", ".join(c.column_name for c in contract.fields)
    missing = ", ".join(
        f"resolved.{f.column_name} IS NULL AS missing_{f.name}"
        for f in contract.required_after_fill
    )
    missing += f", ({present}) AND NOT isfinite({contract.amount_sql}) AS amount_not_finite"
    return _Sql(
        versions=versions,
        elements=elements,
        repeated_table=repeated,
        multi_resolved_table=multi_resolved,
        resolved_view=resolved,
        multi_payloads_table=multi_payloads,
        repeated=f"SELECT {key} FROM {versions} GROUP BY {key} HAVING count(*) > 1",
        multi_resolved=f"""
SELECT {key},
    {", ".join(f"arg_max({name}, {newest}) AS {name}" for name in fillable)},
    {", ".join(f"arg_max({name} IS NULL, {newest}) AS lacks_{name}" for name in fillable)},
    arg_max_null({version}, {newest}) AS {version},
    arg_max(_record_index, {newest}) AS _record_index,
    arg_max(_row, {newest}) AS _row,
    count(*) AS _versions
FROM {versions} SEMI JOIN {repeated} USING ({key})
GROUP BY {key}
""",
        # Orders served once are their own winner: they stream from versions, never copied.
        resolved=f"""
SELECT {key}, {", ".join(fillable)},
    {", ".join(f"false AS lacks_{name}" for name in fillable)},
    {version}, _record_index, _row, 1 AS _versions
FROM {versions} ANTI JOIN {repeated} USING ({key})
UNION ALL
SELECT * FROM {multi_resolved}
""",
        clean=f"""
SELECT {key}, {", ".join(fillable)}, CAST({contract.placed.column_name} AS DATE) AS order_date,
    {version}, _record_index, _versions, nullif(concat_ws(',', {filled}), '') AS _filled_fields
FROM {resolved} WHERE {complete}
""",
        incomplete=f"""
SELECT resolved.{key} AS order_id, elements._record_index, elements._page, elements._position,
    elements.p,
    {missing}
FROM {resolved} AS resolved JOIN {elements} AS elements USING (_row)
WHERE NOT ({complete}) ORDER BY resolved.{key}
""",
        multi_payloads=f"""
SELECT versions.* EXCLUDE (_row, _record_index), elements.p
FROM {versions} AS versions SEMI JOIN {repeated} USING ({key})
    JOIN {elements} AS elements USING (_row)
""",
        distinct=f"SELECT count(*), count(DISTINCT ({key}, p)) FROM {multi_payloads}",
        # Payloads that decode to the same JSON give the same typed version: only distinct
        # texts that agree on every typed column can still be duplicates, and need decoding.
        ambiguous=f"""
SELECT {key} AS order_id, p FROM (SELECT DISTINCT * FROM {multi_payloads})
QUALIFY count(*) OVER (PARTITION BY {typed}) > 1
""",
    )


def canonical_texts(payloads: Sequence[Any]) -> list[str]:
    """One text per payload, equal exactly when the decoded JSON values are equal (decoded by
    the contract's rule: a key named twice counts once, its first occurrence). Only payloads
    that differ as text but agree on every typed column get here (none in a day of the demo)."""
    return [json.dumps(decode_json(p), sort_keys=True) for p in payloads]


def resolve_versions(
    connection: duckdb.DuckDBPyConnection,
    versions: duckdb.DuckDBPyRelation,
    elements: duckdb.DuckDBPyRelation,
    contract: OrderContract,
) -> Resolution:
    """Pick each order's winner and fill it; split off orders still lacking a required field.

    ``versions``: the typed versions (``fast.version_columns``); ``elements``: the day's
    elements (``_row``, lineage, payload ``p``). Only the orders served more than once are
    copied.
    """
    sql = _sql(contract, uuid.uuid4().hex)
    connection.register(sql.versions, versions)
    connection.register(sql.elements, elements)
    try:
        connection.execute(f"CREATE TEMP TABLE {sql.repeated_table} AS {sql.repeated}")
        connection.execute(f"CREATE TEMP TABLE {sql.multi_resolved_table} AS {sql.multi_resolved}")
        connection.execute(f"CREATE TEMP VIEW {sql.resolved_view} AS {sql.resolved}")
        connection.execute(f"CREATE TEMP TABLE {sql.multi_payloads_table} AS {sql.multi_payloads}")
        duplicates = _duplicates(connection, sql)
        incomplete = connection.sql(sql.incomplete).to_arrow_table()
        clean = connection.sql(sql.clean).to_arrow_table()
    finally:
        connection.execute(f"DROP VIEW IF EXISTS {sql.resolved_view}")
        for table in (sql.multi_resolved_table, sql.multi_payloads_table, sql.repeated_table):
            connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.unregister(sql.versions)
        connection.unregister(sql.elements)
    return Resolution(clean=clean, incomplete=incomplete, duplicates=duplicates)


def _duplicates(connection: duckdb.DuckDBPyConnection, sql: _Sql) -> int:
    [(served, distinct)] = connection.sql(sql.distinct).fetchall()
    duplicates = served - distinct  # same text: same value
    ambiguous = connection.sql(sql.ambiguous).fetchnumpy()
    if len(ambiguous["order_id"]):
        canonical = canonical_texts(ambiguous["p"].tolist())
        keys = set(zip(ambiguous["order_id"].tolist(), canonical, strict=True))
        duplicates += len(canonical) - len(keys)
    return int(duplicates)
