"""Valid versions → one row per order: the latest wins, gaps are filled from the same order only.

Runs in DuckDB over the ``versions`` table (see ``fast.VERSION_COLUMNS``) and the registered
``raw`` elements. Orders served once pass straight through; for the others one hash aggregation
picks the winner, the version with the greatest ``(updated_at known, updated_at,
_record_index)``, and takes a field the winner lacks from the greatest version that has it.
Only the differing payloads of orders served more than once are canonicalised in Python to tell
duplicates from new versions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from etl_assets.transform.fast import VERSION_COLUMNS

# Fields a winning version may take from an earlier version of the same order, in table order.
FILLABLE_FIELDS = ("customer_id", "product", "currency", "status", "region", "quantity",
                   "unit_price", "ordered_at")  # fmt: skip
LINEAGE = ("_record_index", "_page", "_position")
# What an order must have once filled (source field -> column): without it, the order is rejected.
REQUIRED_AFTER_FILL = {
    "quantity": "quantity",
    "unit_price": "unit_price",
    "timestamp": "ordered_at",
}
_COMPLETE = " AND ".join(f"{column} IS NOT NULL" for column in REQUIRED_AFTER_FILL.values())
_SORTED = orjson.OPT_SORT_KEYS

# Newest version last: a version without updated_at is the oldest; ties go to the one served last.
# One HUGEINT orders them: the microsecond of updated_at (below every real one when unknown),
# then the element's position in the stream (below 2**40).
_NEWEST = (
    f"(coalesce(epoch_us(updated_at)::HUGEINT, {-(2**80)}::HUGEINT) * {2**40} + _record_index)"
)
_REPEATED_SQL = """
CREATE OR REPLACE TEMP TABLE repeated AS
SELECT order_id FROM versions GROUP BY order_id HAVING count(*) > 1
"""
_MULTI_RESOLVED_SQL = f"""
CREATE OR REPLACE TEMP TABLE multi_resolved AS
SELECT order_id,
    {", ".join(f"arg_max({name}, {_NEWEST}) AS {name}" for name in FILLABLE_FIELDS)},
    {", ".join(f"arg_max({name} IS NULL, {_NEWEST}) AS lacks_{name}" for name in FILLABLE_FIELDS)},
    arg_max_null(updated_at, {_NEWEST}) AS updated_at,
    arg_max(_record_index, {_NEWEST}) AS _record_index,
    arg_max(_row, {_NEWEST}) AS _row,
    count(*) AS _versions
FROM versions SEMI JOIN repeated USING (order_id)
GROUP BY order_id
"""
# Orders served once are their own winner: they stream from versions, never copied.
_RESOLVED_VIEW_SQL = f"""
CREATE OR REPLACE TEMP VIEW resolved AS
SELECT order_id, {", ".join(FILLABLE_FIELDS)},
    {", ".join(f"false AS lacks_{name}" for name in FILLABLE_FIELDS)},
    updated_at, _record_index, _row, 1 AS _versions
FROM versions ANTI JOIN repeated USING (order_id)
UNION ALL
SELECT * FROM multi_resolved
"""
_FILLED = ", ".join(
    f"CASE WHEN lacks_{name} AND {name} IS NOT NULL THEN '{name}' END" for name in FILLABLE_FIELDS
)
CLEAN_SQL = f"""
SELECT order_id, {", ".join(FILLABLE_FIELDS[:-1])}, ordered_at,
    CAST(ordered_at AS DATE) AS order_date, updated_at, _record_index, _versions,
    nullif(concat_ws(',', {_FILLED}), '') AS _filled_fields
FROM resolved WHERE {_COMPLETE} ORDER BY order_id
"""
_INCOMPLETE_SQL = f"""
SELECT resolved.order_id, raw._record_index, raw._page, raw._position, raw.p,
    {", ".join(f"resolved.{c} IS NULL AS missing_{f}" for f, c in REQUIRED_AFTER_FILL.items())}
FROM resolved JOIN raw USING (_row) WHERE NOT ({_COMPLETE}) ORDER BY order_id
"""
_MULTI_PAYLOADS_SQL = """
CREATE OR REPLACE TEMP TABLE multi_payloads AS
SELECT versions.* EXCLUDE (_row, _record_index), raw.p
FROM versions SEMI JOIN repeated USING (order_id) JOIN raw USING (_row)
"""
# Payloads that decode to the same JSON give the same typed version: only distinct texts that
# agree on every typed column can still be duplicates, and need decoding to tell.
_TYPED = ", ".join(name for name in VERSION_COLUMNS if name not in ("_row", "_record_index"))
_AMBIGUOUS_SQL = f"""
SELECT order_id, p FROM (SELECT DISTINCT * FROM multi_payloads)
QUALIFY count(*) OVER (PARTITION BY {_TYPED}) > 1
"""


def canonical_texts(payloads: Sequence[Any]) -> list[str]:
    """One text per payload, equal exactly when the decoded JSON values are equal.

    ``json.dumps(json.loads(p), sort_keys=True)`` defines it; orjson gives the same equality much
    faster and is used for all payloads or for none (it refuses NaN and integers beyond 64 bits).
    """
    try:
        return [orjson.dumps(orjson.loads(p), option=_SORTED).decode() for p in payloads]
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, TypeError):
        return [json.dumps(json.loads(p), sort_keys=True) for p in payloads]


def resolve_versions(connection: duckdb.DuckDBPyConnection) -> tuple[pa.Table, pa.Table, int]:
    """Pick each order's winner and fill it; split off orders still lacking a required field.

    Reads ``versions`` and ``raw`` (``_row``, lineage, ``p``) in ``connection``; only the orders
    served more than once are copied. Returns the clean rows (clean_records columns, by
    order_id), the winners of the incomplete orders (``order_id``, lineage, payload ``p`` and a
    ``missing_<field>`` flag per field of ``REQUIRED_AFTER_FILL``), and how many versions were
    duplicates.
    """
    for statement in (_REPEATED_SQL, _MULTI_RESOLVED_SQL, _RESOLVED_VIEW_SQL, _MULTI_PAYLOADS_SQL):
        connection.execute(statement)
    duplicates = _duplicates(connection)
    late = connection.sql(_INCOMPLETE_SQL).to_arrow_table()
    clean = connection.sql(CLEAN_SQL).to_arrow_table()
    connection.execute("DROP VIEW resolved; DROP TABLE multi_resolved; DROP TABLE repeated")
    return clean, late, duplicates


def _duplicates(connection: duckdb.DuckDBPyConnection) -> int:
    """Valid versions identical (as decoded JSON) to an earlier one of the same order (reads
    and drops ``multi_payloads``)."""
    [(served, distinct)] = connection.sql(
        "SELECT count(*), count(DISTINCT (order_id, p)) FROM multi_payloads"
    ).fetchall()
    duplicates = served - distinct  # same text: same value
    ambiguous = connection.sql(_AMBIGUOUS_SQL).fetchnumpy()
    if len(ambiguous["order_id"]):
        canonical = canonical_texts(ambiguous["p"].tolist())
        keys = set(zip(ambiguous["order_id"].tolist(), canonical, strict=True))
        duplicates += len(canonical) - len(keys)
    connection.execute("DROP TABLE multi_payloads")
    return int(duplicates)
